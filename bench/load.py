"""Load test: N browser sessions at once against the real server, each checked for its own answer.

Run: ``.venv/bin/python -m bench.load [sessions]`` (default 8). Every session picks a different
sample image, opens a page and waits for the result; the answer it sees is compared with
the one computed here, in this process, with the same model. Prints p50/p95 seconds per
interaction and the server's peak memory (RSS, with its children).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.serve import offline_env, serve
from core.assets import sample_images
from core.classify import classify
from core.images import load_image
from core.models import get_model

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SETTLED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.dataset.testScriptState === 'notRunning' && !document.querySelector('[data-stale="true"]');
}"""


@dataclass(frozen=True)
class Outcome:
    session: int
    interaction: str
    seconds: float
    correct: bool
    detail: str


def expected_top1() -> dict[str, str]:
    """The oracle: the top-1 label of each sample image under seeded random ResNet-18 weights."""
    model = get_model("resnet18", pretrained=False)
    return {name: classify(model, load_image(path), k=1).top[0].label for name, path in sample_images().items()}


async def settle(page) -> None:
    await page.wait_for_timeout(200)
    await page.wait_for_function(SETTLED, timeout=300_000)


async def zoo_session(browser, url: str, index: int, sample: str, expected: str) -> Outcome:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(300_000)
    await page.goto(url)
    await settle(page)
    await page.get_by_role("button", name="Random (untrained)").click()
    await settle(page)
    box = page.get_by_test_id("stSelectbox").filter(has_text="Sample image")
    await box.click()
    await page.get_by_role("option", name=sample, exact=True).click()
    await settle(page)
    start = time.perf_counter()
    await page.get_by_test_id("stSidebarNav").get_by_role("link", name="Model zoo").click()
    shown = page.get_by_text("Most likely:")
    await shown.wait_for()
    await settle(page)
    seconds = time.perf_counter() - start
    text = await shown.inner_text()
    await context.close()
    return Outcome(index, "zoo: top-5 of a chosen image", seconds, f"Most likely: {expected} (" in text, text)


def watch_memory(pid: int, stop: threading.Event, peak: list[int]) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        try:
            rss = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
        except psutil.Error:
            break
        peak[0] = max(peak[0], rss)
        time.sleep(0.2)


async def run(sessions: int) -> tuple[list[Outcome], int]:
    from playwright.async_api import async_playwright

    oracle = expected_top1()
    names = sorted(oracle)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with serve("dashboard/app.py", offline_env(home), home / "server.log") as (url, process):
            stop, peak = threading.Event(), [0]
            watcher = threading.Thread(target=watch_memory, args=(process.pid, stop, peak), daemon=True)
            watcher.start()
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                outcomes = await asyncio.gather(
                    *[
                        zoo_session(browser, url, i, names[i % len(names)], oracle[names[i % len(names)]])
                        for i in range(sessions)
                    ]
                )
                await browser.close()
            stop.set()
            watcher.join()
    return list(outcomes), peak[0]


def report(outcomes: list[Outcome], peak_bytes: int) -> str:
    seconds = sorted(o.seconds for o in outcomes)
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    correct = sum(o.correct for o in outcomes)
    lines = [
        f"{len(outcomes)} concurrent sessions; correct results: {correct}/{len(outcomes)}",
        f"p50 {statistics.median(seconds):.2f} s, p95 {p95:.2f} s per interaction; "
        f"server peak memory {peak_bytes / 2**30:.2f} GiB",
    ]
    lines += [
        f"  session {o.session}: {o.interaction}: {o.seconds:.2f} s, {'ok' if o.correct else 'WRONG'} ({o.detail})"
        for o in outcomes
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    print(report(*asyncio.run(run(count))))
