"""Shared benchmark helpers: median timings and the rows every benchmark prints."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


def median_seconds(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass(frozen=True)
class Row:
    """One figure of ours beside its peer, measured in the same run."""

    what: str
    ours: float
    peer_name: str
    peer: float
    target: str
    unit: str = "ms"

    @property
    def ratio(self) -> float:
        return self.ours / self.peer if self.peer else float("nan")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


def table(rows: list[Row]) -> str:
    """A markdown table of ``rows`` with the ratio ours/peer."""
    lines = [
        f"Machine: {machine()}",
        "",
        "| what | ours | peer | peer value | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        digits = 1 if r.unit else 3  # a unitless figure is a score (accuracy, mAP) in [0, 1]
        ours, peer = f"{r.ours:.{digits}f} {r.unit}".rstrip(), f"{r.peer:.{digits}f} {r.unit}".rstrip()
        ratio = "-" if r.ratio != r.ratio else f"{r.ratio:.2f}x"  # NaN: a zero peer (e.g. an untrained model)
        lines.append(f"| {r.what} | {ours} | {r.peer_name} | {peer} | {ratio} | {r.target} |")
    return "\n".join(lines)
