"""Cold start in a real browser: from `streamlit run` to the first heading and to the first result.

Run: ``.venv/bin/python -m bench.startup [--repeat N]``. Each start is a new server process (cold
Python imports; the OS file cache is warm, as on any second start). The tab opens the Model zoo
directly: the first heading is any page heading (the loading state's, drawn before PyTorch is
imported), the first result is the zoo's top-5 classification of the default sample. The peer
is a bare Streamlit app showing one heading, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Row, table
from bench.serve import CHROMIUM, CHROMIUM_ARGS, offline_env, serve

HELLO = 'import streamlit as st\nst.title("Hello")\n'


def milestones(browser, script: Path, path: str, waits: dict[str, str], home: Path) -> dict[str, float]:
    """Seconds from starting the server to each milestone: ``waits`` maps a name to a CSS/text selector."""
    start = time.perf_counter()
    found = {}
    with serve(script, offline_env(home), home / "server.log") as (url, _process):
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(url + path, wait_until="commit")
        for name, selector in waits.items():
            page.locator(selector).first.wait_for(timeout=120_000)
            found[name] = time.perf_counter() - start
        page.close()
    return found


def rows(repeat: int = 3) -> list[Row]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        home = Path(tmp)
        hello = home / "hello.py"
        hello.write_text(HELLO)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ours, peer = [], []
        for _ in range(repeat):
            peer.append(milestones(browser, hello, "/", {"heading": "h1"}, home)["heading"])
            ours.append(
                milestones(
                    browser,
                    Path("dashboard/app.py"),
                    "/zoo",
                    {"heading": "h1", "result": "text=Top-5 of"},
                    home,
                )
            )
        browser.close()
    bare = statistics.median(peer) * 1000
    return [
        Row(
            "cold start to first heading (CPU)",
            statistics.median(o["heading"] for o in ours) * 1000,
            "bare Streamlit app",
            bare,
            "<= 3 s",
        ),
        Row(
            "cold start to first result: zoo top-5 (CPU)",
            statistics.median(o["result"] for o in ours) * 1000,
            "bare Streamlit app",
            bare,
            "<= 5 s",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    print(table(rows(parser.parse_args().repeat)))
