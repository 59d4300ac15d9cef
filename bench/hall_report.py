"""Measuring the server under the lecture-hall load: CPU, memory, py-spy profile, and the report."""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.common import machine

APP = re.compile(r"\((dashboard|core)/")  # py-spy shortens paths: (core/classify.py:40)
# Where server time goes, by the first matching frame of a py-spy stack (most specific first).
BUCKETS = (
    ("torch forward/backward", re.compile(r"torch/(nn|autograd|_tensor)|captum")),
    ("YOLO (ultralytics/openvino)", re.compile(r"ultralytics|openvino")),
    ("plotly figures", re.compile(r"plotly/")),
    ("image encoding (PIL/numpy)", re.compile(r"PIL/|image_utils|render\.py|feature_views|det_render")),
    ("st.cache_* hashing", re.compile(r"caching/hashing|cache_utils")),
    ("dataframes (pandas/arrow)", re.compile(r"pandas/|pyarrow|dataframe")),
    ("protobuf/websocket send", re.compile(r"protobuf|forward_msg|websocket|starlette|uvicorn")),
    ("app code (pages, core)", APP),
    ("streamlit runtime", re.compile(r"streamlit/")),
)


@dataclass(frozen=True)
class Outcome:
    student: int
    interaction: str
    seconds: float
    correct: bool
    detail: str


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


@dataclass
class Step:
    """One step of the ramp: ``students`` at once on ``variant`` for ``wall`` seconds."""

    variant: str
    students: int
    outcomes: list[Outcome]
    wall: float
    cpu_seconds: float
    peak_bytes: int
    cache: dict | None
    profile: str = ""
    client_cpu_seconds: float = 0.0  # the simulated students themselves (they share the machine)

    def timed(self) -> dict[str, list[Outcome]]:
        groups: dict[str, list[Outcome]] = {}
        for o in self.outcomes:
            if o.interaction != "connect":  # first page load: reported, not part of the p95 rule
                groups.setdefault(o.interaction, []).append(o)
        return groups

    def worst_p95(self) -> float:
        return max((percentile([o.seconds for o in g], 0.95) for g in self.timed().values()), default=float("inf"))

    def wrong(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.correct]

    def held(self, limit: float) -> bool:
        return not self.wrong() and self.worst_p95() <= limit

    def line(self, limit: float) -> str:
        done = sum(len(g) for g in self.timed().values())
        verdict = "held" if self.held(limit) else "NOT held"
        return (
            f"{self.variant}: {self.students} students, {done} interactions in {self.wall:.0f} s "
            f"({done / self.wall:.1f}/s), worst p95 {self.worst_p95():.2f} s, {len(self.wrong())} wrong, "
            f"server CPU {self.cpu_seconds / self.wall:.2f} cores "
            f"(students {self.client_cpu_seconds / self.wall:.2f}), "
            f"peak {self.peak_bytes / 2**30:.2f} GiB: {verdict}"
        )


@dataclass
class Usage:
    cpu_seconds: float = 0.0
    peak_bytes: int = 0


def _tree(pids: tuple[int, ...]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            found += [root, *root.children(recursive=True)]
    return found


@contextlib.contextmanager
def monitor(pids: tuple[int, ...]) -> Iterator[Usage]:
    """CPU seconds used and peak RSS of processes ``pids`` and their children while the block runs."""
    usage, stop = Usage(), threading.Event()

    def cpu() -> float:
        total = 0.0
        for p in _tree(pids):
            with contextlib.suppress(psutil.Error):
                total += sum(p.cpu_times()[:2])
        return total

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(psutil.Error):
                usage.peak_bytes = max(usage.peak_bytes, sum(p.memory_info().rss for p in _tree(pids)))
            stop.wait(0.2)

    start = cpu()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield usage
    finally:
        stop.set()
        thread.join()
        usage.cpu_seconds = cpu() - start


@dataclass
class Profile:
    summary: str = ""
    raw: list[str] = field(default_factory=list)


def _py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if os.path.exists(found) else None


@contextlib.contextmanager
def profile(pid: int, seconds: float, enabled: bool) -> Iterator[Profile]:
    """py-spy (sampling, from outside: the server runs unchanged) over the block; summarised after."""
    result = Profile()
    spy = _py_spy() if enabled else None
    if enabled and spy is None:
        result.summary = "py-spy is not installed (pip install -r requirements-serve.txt): no profile"
    if spy is None:
        yield result
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        command = [spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out), "--rate", "50"]
        command += ["--duration", str(int(seconds)), "--subprocesses"]  # blocking: idle threads are told apart
        spy_process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            yield result
        finally:
            try:
                _, err = spy_process.communicate(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                spy_process.kill()
                _, err = spy_process.communicate()
            result.raw = out.read_text().splitlines() if out.exists() else []
            if keep := os.environ.get("CONVLENS_PROFILE_OUT"):  # the raw stacks, for flame graphs
                shutil.copy(out, keep) if out.exists() else None
            result.summary = summarise(result.raw) if result.raw else f"py-spy failed: {err.strip()[-300:]}"


def summarise(lines: list[str], top: int = 12) -> str:
    """Share of samples per bucket (first matching frame from the leaf up) and the hottest app functions."""
    buckets: collections.Counter[str] = collections.Counter()
    app: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n, frames = int(count), [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        total += n
        leaf_first = list(reversed(frames))
        bucket = next((name for name, rx in BUCKETS for f in leaf_first if rx.search(f)), "other (python, threads)")
        buckets[bucket] += n
        for f in dict.fromkeys(f for f in frames if APP.search(f)):
            app[re.sub(r":\d+\)", ")", f)] += n
        if frames:
            leaves[re.sub(r":\d+\)", ")", frames[-1])] += n
    if not total:
        return "no samples"
    rows = [f"  {name}: {n / total:.0%}" for name, n in buckets.most_common()]
    rows += ["  hottest app functions (inclusive):"]
    rows += [f"    {n / total:.0%} {f}" for f, n in app.most_common(top)]
    rows += ["  hottest leaf functions (self):"]
    rows += [f"    {n / total:.0%} {f}" for f, n in leaves.most_common(top)]
    return f"{total} samples; time by first matching frame from the leaf:\n" + "\n".join(rows)


def cache_line(stats: dict[str, dict[str, int]]) -> str:
    """Shared caches: answers served without computing (hits, and waits on a computation under way)."""
    parts = []
    for name, v in stats.items():
        if "calls" in v:
            mean = v["requests"] / v["calls"] if v["calls"] else 0
            parts.append(f"{name}: {v['requests']} requests in {v['calls']} passes ({mean:.2f} per pass)")
        else:
            parts.append(
                f"{name}: {v['hits'] + v['waits']} shared / {v['misses']} computed, {v['bytes'] / 2**20:.0f} MiB"
            )
    return "shared caches (counts since the server started): " + "; ".join(parts)


def report(steps: list[Step], limit: float, args) -> str:
    lines = [
        f"Machine: {machine()}; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}",
        f"Think time {args.think_min}-{args.think_max} s, {args.seconds:.0f} s per step; "
        f"held = every interaction's p95 <= {limit} s and every answer right.",
        "",
        "| variant | students held at p95 <= 2 s | largest step tried |",
        "|---|---|---|",
    ]
    for variant in dict.fromkeys(s.variant for s in steps):
        mine = [s for s in steps if s.variant == variant]
        held = max((s.students for s in mine if s.held(limit)), default=0)
        lines.append(f"| {variant} | {held} | {mine[-1].students} |")
    for s in steps:
        lines += [
            "",
            s.line(limit),
            "",
            "| interaction | n | p50 (s) | p95 (s) | p99 (s) | right |",
            "|---|---|---|---|---|---|",
        ]
        for what, group in {**s.timed(), "connect": [o for o in s.outcomes if o.interaction == "connect"]}.items():
            secs = [o.seconds for o in group]
            lines.append(
                f"| {what} | {len(group)} | {percentile(secs, 0.5):.2f} | {percentile(secs, 0.95):.2f} | "
                f"{percentile(secs, 0.99):.2f} | {sum(o.correct for o in group)}/{len(group)} |"
            )
        if s.cache:
            lines.append(cache_line(s.cache))
        lines += [f"  WRONG: {o}" for o in s.wrong()[:5]]
        if s.profile:
            lines += ["", f"Profile of the server ({s.variant}, {s.students} students):", s.profile]
    mean_think = statistics.mean([args.think_min, args.think_max])
    lines.append(f"\n(mean think time {mean_think:.1f} s between a student's interactions)")
    return "\n".join(lines)
