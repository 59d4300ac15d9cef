"""A lecture hall on one server: browserless students on Streamlit's websocket protocol.

Run: ``.venv/bin/python -m bench.hall [--ramp 8,16,32,64,100] [--seconds 45] [--variants before,after]``.

Each student is a :class:`bench.st_client.StreamlitClient` (no browser) that keeps doing each
page's main interaction, with think time between clicks: pick a sample image on the zoo page,
move the layer slider on the feature-map page, switch Grad-CAM to the second class, move the
YOLO confidence slider; opening each page is timed too. Every answer is checked against
:mod:`bench.hall_oracle` (``core`` called in this process). The number of students doubles
(8, 16, 32, 64, 100 ...) until an interaction's p95 passes 2 s; the largest number that stayed
under is "students held". Variants, measured in the same run: ``before`` (the app at a git ref,
default ``main``, exported with ``git archive``), ``after`` (this tree), ``ray`` (this tree with
``CONVLENS_SERVE_URL`` set to a Ray Serve started here; needs requirements-serve.txt).
Traffic goes to 127.0.0.1 only; every step is bounded in time and in students.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import hall_oracle
from bench.hall_report import Outcome, Step, monitor, profile, report
from bench.serve import ROOT, offline_env, serve
from bench.st_client import ProtocolError, Run, StreamlitClient

YOLO_MODEL = ROOT.parent / "shared" / "weights" / "yolov8n_int8_openvino_model"  # detection skipped when absent
P95_LIMIT = 2.0
MAX_STUDENTS = 256


@dataclass
class Student:
    """One student's place in the hall: what they look at next."""

    index: int
    client: StreamlitClient
    oracle: hall_oracle.Expected
    outcomes: list[Outcome]
    sample: str = ""
    chosen: bool = False  # the hall's model is picked in the sidebar (once: the sidebar keeps it)
    layer: int = 0
    conf: int = 0

    def record(self, what: str, run: Run, correct: bool, detail: str) -> None:
        errors = run.errors()
        self.outcomes.append(
            Outcome(self.index, what, run.seconds, correct and not errors, errors[0] if errors else detail)
        )

    async def zoo(self) -> None:
        run = await self.client.open("Model zoo")
        self.record("open zoo page", run, True, "")
        names = self.oracle.samples
        self.sample = (
            names[(names.index(self.sample) + 1) % len(names)] if self.sample else names[self.index % len(names)]
        )
        if not self.chosen:  # both variants must run the same model, whatever their default
            run = await self.client.set(run.widget("sb_model"), self.oracle.model_label)
            self.record("choose model", run, True, "")
            self.chosen = True
        run = await self.client.set(run.widget("sb_sample"), self.sample)
        want = self.oracle.top1[self.sample]
        self.record("zoo prediction", run, any(want in m for m in run.markdown()), f"{self.sample}: want {want}")

    async def features(self) -> None:
        run = await self.client.open("Filters & feature maps")
        self.record("open feature maps", run, True, "")
        self.layer = (self.layer + 1) % len(self.oracle.layers)
        layer = self.oracle.layers[self.layer]
        run = await self.client.set(run.widget("fm_layer"), layer)
        want = self.oracle.channels[self.sample, layer]
        got = tuple(c for c in run.captions() if c.startswith("#"))
        self.record("layer change", run, got == want, f"{self.sample}/{layer}: {got[:2]} vs {want[:2]}")

    async def gradcam(self) -> None:
        run = await self.client.open("Grad-CAM & attributions")
        self.record("open Grad-CAM", run, True, "")
        run = await self.client.set(run.widget("gc_top_", prefix=True), self.oracle.second[self.sample])
        want = self.oracle.gradcam[self.sample]
        self.record("Grad-CAM target change", run, any(c.startswith(want) for c in run.captions()), want)

    async def detection(self) -> None:
        run = await self.client.open("YOLO detection")
        self.record("open YOLO", run, True, "")
        steps = hall_oracle.CONF_STEPS
        self.conf = (self.conf + 1) % len(steps)
        run = await self.client.set(run.widget("det_conf"), steps[self.conf])
        metrics = run.metrics()
        got = tuple(metrics.get(k, "?") for k in ("TP", "FP", "FN"))
        want = self.oracle.detections[steps[self.conf]]
        self.record("YOLO slider move", run, got == want, f"conf {steps[self.conf]}: {got} vs {want}")


async def student(url: str, index: int, oracle, outcomes: list[Outcome], until: float, think: tuple[float, float]):
    """Connect, then cycle through the pages until ``until`` (the interaction under way finishes).

    ``until`` <= now: exactly one full cycle (the warm-up).
    """
    rng = random.Random(index)
    await asyncio.sleep(rng.uniform(0, think[1]))  # students do not all click at the same instant
    start = time.perf_counter()
    try:
        client = await StreamlitClient.connect(url)
    except (OSError, ProtocolError) as exc:
        outcomes.append(Outcome(index, "connect", time.perf_counter() - start, False, repr(exc)))
        return
    outcomes.append(Outcome(index, "connect", time.perf_counter() - start, True, ""))
    me = Student(index, client, oracle, outcomes)
    actions = [me.zoo, me.features, me.gradcam] + ([me.detection] if oracle.detections else [])
    try:
        once = until <= time.perf_counter()
        while once or time.perf_counter() < until:
            for action in actions:
                await action()
                await asyncio.sleep(rng.uniform(*think))
                if not once and time.perf_counter() >= until:
                    break
            once = False
    except (OSError, ProtocolError, KeyError) as exc:
        outcomes.append(Outcome(index, "protocol", 0.0, False, repr(exc)))
    finally:
        await client.close()


async def step(url: str, count: int, oracle, seconds: float, think: tuple[float, float]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    until = time.perf_counter() + seconds
    await asyncio.gather(*(student(url, i, oracle, outcomes, until, think) for i in range(count)))
    return outcomes


@contextlib.contextmanager
def exported(ref: str) -> Iterator[Path]:
    """The repository at ``ref`` in a temporary folder (``git archive``; nothing in this checkout changes)."""
    with tempfile.TemporaryDirectory(prefix="convlens_before_") as tmp:
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


def home_with_yolo(home: Path) -> None:
    if YOLO_MODEL.exists():
        (home / "weights").mkdir(exist_ok=True)
        link = home / "weights" / YOLO_MODEL.name
        if not link.exists():
            link.symlink_to(YOLO_MODEL)


@contextlib.contextmanager
def server(variant: str, home: Path, ref: str) -> Iterator[tuple[str, int, Path]]:
    """The app for ``variant`` on a free loopback port: (url, its pids, stats file); pids include Ray's."""
    env = offline_env(home) | {"CONVLENS_STATS_FILE": str(home / f"stats_{variant}.json")}
    with contextlib.ExitStack() as stack:
        root, pids = ROOT, []
        if variant == "before":
            root = stack.enter_context(exported(ref))
        elif variant == "ray":
            from bench.hall_ray import ray_backend

            env["CONVLENS_SERVE_URL"], engine = stack.enter_context(ray_backend(env))
            pids.append(engine)
        url, process = stack.enter_context(serve("dashboard/app.py", env, home / f"server_{variant}.log", root))
        yield url, (process.pid, *pids), Path(env["CONVLENS_STATS_FILE"])


async def warm_up(url: str, oracle) -> None:
    """One student's full cycle before timing: models load, the shared caches fill."""
    outcomes: list[Outcome] = []
    await student(url, 0, oracle, outcomes, time.perf_counter(), (0.0, 0.0))
    if bad := [o for o in outcomes if not o.correct]:
        raise RuntimeError(f"warm-up failed: {bad[0]}")


def measure(variant: str, url: str, pids: tuple, stats: Path, count: int, oracle, args, prof: bool) -> Step:
    with monitor(pids) as usage, monitor((os.getpid(),)) as students, profile(pids[0], args.seconds, prof) as where:
        began = time.perf_counter()
        outcomes = asyncio.run(step(url, count, oracle, args.seconds, (args.think_min, args.think_max)))
        wall = time.perf_counter() - began
    cache = json.loads(stats.read_text()) if stats.exists() else None
    done = Step(variant, count, outcomes, wall, usage.cpu_seconds, usage.peak_bytes, cache, where.summary)
    done.client_cpu_seconds = students.cpu_seconds
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ramp", default="8,16,32,64,100", help="students per step, increasing")
    parser.add_argument("--seconds", type=float, default=45.0, help="length of each step")
    parser.add_argument("--think-min", type=float, default=2.0)
    parser.add_argument("--think-max", type=float, default=6.0)
    parser.add_argument("--variants", default="before,after", help="before, after, ray (comma separated)")
    parser.add_argument("--ref", default="main", help="the git ref measured as 'before'")
    parser.add_argument("--profile", default="", help="py-spy the server in the steps with these many students (8,64)")
    args = parser.parse_args()
    ramp = [min(int(n), MAX_STUDENTS) for n in args.ramp.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        home_with_yolo(home)
        os.environ.update(offline_env(home))  # the oracle sees the same (absent) weights as the server
        oracle = hall_oracle.expected(YOLO_MODEL if YOLO_MODEL.exists() else None)
        steps: list[Step] = []
        for variant in args.variants.split(","):
            with server(variant, home, args.ref) as (url, pids, stats):
                asyncio.run(warm_up(url, oracle))
                profiled = {int(n) for n in args.profile.split(",") if n}
                for count in ramp:
                    done = measure(variant, url, pids, stats, count, oracle, args, count in profiled)
                    steps.append(done)
                    print(done.line(P95_LIMIT), flush=True)
                    if not done.held(P95_LIMIT):
                        break
        print(report(steps, P95_LIMIT, args))


if __name__ == "__main__":
    main()
