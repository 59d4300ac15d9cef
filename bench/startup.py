"""Cold start: from `streamlit run` to the Home page drawn in Chromium, against a bare Streamlit app.

Run: ``.venv/bin/python -m bench.startup``. Each start is a new server process (cold Python
imports; the OS file cache is warm, as on any second start).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Row, table
from bench.serve import CHROMIUM, CHROMIUM_ARGS, offline_env, serve

HELLO = 'import streamlit as st\nst.title("Hello")\n'


def first_page_seconds(browser, script: Path, heading: str, home: Path) -> float:
    """Seconds from starting the server to ``heading`` being visible in a new tab."""
    start = time.perf_counter()
    with serve(script, offline_env(home), home / "server.log") as (url, _process):
        page = browser.new_page()
        page.goto(url)
        page.get_by_role("heading", name=heading).wait_for(timeout=60_000)
        elapsed = time.perf_counter() - start
        page.close()
    return elapsed


def rows(repeat: int = 3) -> list[Row]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        home = Path(tmp)
        hello = home / "hello.py"
        hello.write_text(HELLO)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ours, peer = [], []
        for _ in range(repeat):
            peer.append(first_page_seconds(browser, hello, "Hello", home))
            ours.append(
                first_page_seconds(
                    browser, Path("dashboard/app.py"), "ConvLens: see what convolutional networks do", home
                )
            )
        browser.close()
    return [
        Row(
            "cold start to first page (CPU)",
            statistics.median(ours) * 1000,
            "bare Streamlit app",
            statistics.median(peer) * 1000,
            "<= 5 s",
        )
    ]


if __name__ == "__main__":
    print(table(rows()))
