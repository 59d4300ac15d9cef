"""Cold start in a real browser: from launching the server to the first heading and to the first result.

Run: ``.venv/bin/python -m bench.startup [--repeat N] [--ref COMMIT]``. Each start is a new server
process (cold Python imports; the OS file cache is warm, as on any second start). The tab opens
the Model zoo directly: the first heading is any page heading (the loading state's, drawn before
PyTorch is imported), the first result is the zoo's top-5 classification of the default sample.
In the same run, rounds interleaved (a load spike on this shared machine hits every variant):

- ``python -m dashboard`` (``make run``: the warm-up thread starts with the server),
- ``streamlit run dashboard/app.py`` of this checkout (no warm-up),
- ``streamlit run dashboard/app.py`` of ``--ref`` (default ``main``), checked out in a temporary
  git worktree: the app before these changes,
- the peer: a bare Streamlit app showing one heading.

All servers share one ``CONVLENS_HOME`` (as one installation does): the first start of this
checkout writes the card counts there (:mod:`core.models.counts`), later starts read them.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.common import Row, table
from bench.serve import CHROMIUM, CHROMIUM_ARGS, ROOT, offline_env, serve

HELLO = 'import streamlit as st\nst.title("Hello")\n'
ZOO = {"heading": "h1", "result": "text=Top-5 of >> visible=true"}  # the worksheet keeps a hidden copy


def milestones(
    browser, script: Path, path: str, waits: dict[str, str], home: Path, root: Path = ROOT, launcher=None, env=None
) -> dict[str, float]:
    """Seconds from starting the server to each milestone: ``waits`` maps a name to a CSS/text selector."""
    start = time.perf_counter()
    found = {}
    with serve(script, offline_env(home) | (env or {}), home / "server.log", root, launcher) as (url, _process):
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(url + path, wait_until="commit")
        for name, selector in waits.items():
            page.locator(selector).first.wait_for(timeout=120_000)
            found[name] = time.perf_counter() - start
        page.close()
    return found


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """A temporary git worktree of ``ref`` (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="convlens_ref_") as tmp:
        path = Path(tmp) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), ref], cwd=ROOT, check=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


def _variants(before: Path, ref: str) -> dict[str, tuple[Path, Sequence[str] | None, dict]]:
    """Name -> (folder it runs from, launcher (None: ``streamlit run dashboard/app.py``), environment)."""
    launcher = (sys.executable, "-m", "dashboard")
    return {
        "python -m dashboard (warm-up)": (ROOT, launcher, {}),
        f"streamlit run, {ref} (before)": (before, None, {}),
        "streamlit run, this checkout": (ROOT, None, {}),
    }


def measure(repeat: int, ref: str) -> tuple[dict[str, list[dict[str, float]]], list[float]]:
    """Milestones of every variant per round, and the bare app's first heading per round."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright, checkout(ref) as before:
        home = Path(tmp)
        hello = home / "hello.py"
        hello.write_text(HELLO)
        variants = _variants(before, ref)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        seen: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        bare = []
        for _ in range(repeat):
            bare.append(milestones(browser, hello, "/", {"heading": "h1"}, home)["heading"])
            for name, (root, launcher, env) in variants.items():
                app = Path("dashboard/app.py")
                seen[name].append(milestones(browser, app, "/zoo", ZOO, home, root, launcher, env))
        browser.close()
    return seen, bare


def rows(repeat: int = 3, ref: str = "main") -> list[Row]:
    seen, bare = measure(repeat, ref)
    peer = statistics.median(bare) * 1000
    out = []
    for name, runs in seen.items():
        for milestone, target in (("heading", "<= 3 s"), ("result", "<= 5 s")):
            values = [r[milestone] for r in runs]
            what = f"{name}: first {'heading' if milestone == 'heading' else 'result (zoo top-5)'} (CPU)"
            spread = f" [{min(values):.1f}-{max(values):.1f} s]"
            out.append(Row(what + spread, statistics.median(values) * 1000, "bare Streamlit app", peer, target))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ref", default="main", help="the commit whose `streamlit run` is 'before' (default main)")
    args = parser.parse_args()
    print(table(rows(args.repeat, args.ref)))
