"""Load test: N browser sessions at once against the real server, each checked for its own answer.

Run: ``.venv/bin/python -m bench.load [sessions]`` (default 8). Every session picks a different
sample image, opens a page and waits for the result; the answer it sees is compared with
the one computed here, in this process, with the same model. Prints p50/p95 seconds per
interaction and the server's peak memory (RSS, with its children).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.serve import CHROMIUM, CHROMIUM_ARGS, ROOT, offline_env, serve
from core.io.assets import sample_images
from core.io.images import load_image
from core.models.classification import classify
from core.models.loading import get_model
from core.models.weights import default_key

YOLO_MODEL = ROOT.parent / "shared" / "weights" / "yolov8n_int8_openvino_model"  # skipped when absent
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


def expected_top1() -> dict[str, tuple[str, float]]:
    """The oracle: the default model's top-1 label and probability for each sample image, computed here.

    The probability tells the images apart even when two of them get the same label.
    """
    model = get_model(default_key())
    tops = {name: classify(model, load_image(path), k=1).top[0] for name, path in sample_images().items()}
    return {name: (top.label, top.probability) for name, top in tops.items()}


async def settle(page) -> None:
    await page.wait_for_timeout(200)
    await page.wait_for_function(SETTLED, timeout=300_000)


async def timed(page, outcomes: list[Outcome], session: int, what: str, title: str, check) -> None:
    """Open the page called ``title`` in the sidebar, wait for it to be drawn, then record ``check()``'s verdict."""
    start = time.perf_counter()
    await page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    await page.get_by_role("heading", name=title).first.wait_for()  # the new page, not the old one
    await settle(page)
    correct, detail = await check()
    outcomes.append(Outcome(session, what, time.perf_counter() - start, correct, detail))


async def session(
    browser, url: str, index: int, sample: str, expected: tuple[str, float], detection: bool
) -> list[Outcome]:
    """One student: their own image on the zoo, Grad-CAM and feature-map pages, then detection."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(300_000)
    outcomes: list[Outcome] = []
    await page.goto(url)
    await settle(page)
    await page.get_by_test_id("stSelectbox").filter(has_text="Sample image").click()
    await page.get_by_role("option", name=sample, exact=True).click()
    await settle(page)

    async def top1():
        text = await page.get_by_text("most likely").first.inner_text()
        return f"most likely {expected[0]} ({expected[1]:.1%})" in text, text

    async def explained():
        chosen = page.get_by_role("radiogroup", name="Top-5 predictions").get_by_role("radio", checked=True)
        label = (await chosen.locator("xpath=ancestor::label[1]").inner_text()).strip()
        overlays = await page.get_by_test_id("stImage").count()
        return label == f"{expected[0]} · {expected[1]:.1%}" and overlays > 0, f"explains {label!r}, {overlays} images"

    async def maps_shown():
        count = await page.get_by_test_id("stImage").count()
        return count > 0, f"{count} images (checked: shown)"

    async def judged():
        values = [await m.inner_text() for m in await page.get_by_test_id("stMetricValue").all()]
        return values[:3] == ["5", "0", "0"], f"bus TP/FP/FN {values[:3]}"

    await timed(page, outcomes, index, "zoo: top-5", "Model zoo", top1)
    await timed(
        page,
        outcomes,
        index,
        "Grad-CAM of the prediction",
        "Grad-CAM & attributions",
        explained,
    )
    await timed(
        page,
        outcomes,
        index,
        "feature maps",
        "Filters & feature maps",
        maps_shown,
    )
    if detection:
        await timed(
            page,
            outcomes,
            index,
            "YOLO detection judged against labels",
            "YOLO detection",
            judged,
        )
    await context.close()
    return outcomes


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

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = offline_env(home)
        os.environ.update(env)  # the oracle sees the same (absent) weights as the server
        oracle = expected_top1()
        names = sorted(oracle)
        detection = YOLO_MODEL.exists()
        if detection:
            (home / "weights").mkdir()
            (home / "weights" / YOLO_MODEL.name).symlink_to(YOLO_MODEL)
        with serve("dashboard/app.py", env, home / "server.log") as (url, process):
            stop, peak = threading.Event(), [0]
            watcher = threading.Thread(target=watch_memory, args=(process.pid, stop, peak), daemon=True)
            watcher.start()
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                per_session = await asyncio.gather(
                    *[
                        session(browser, url, i, names[i % len(names)], oracle[names[i % len(names)]], detection)
                        for i in range(sessions)
                    ]
                )
                await browser.close()
            stop.set()
            watcher.join()
    return [o for outcomes in per_session for o in outcomes], peak[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(outcomes: list[Outcome], peak_bytes: int) -> str:
    sessions = len({o.session for o in outcomes})
    correct = sum(o.correct for o in outcomes)
    lines = [
        f"{sessions} concurrent sessions, {len(outcomes)} interactions; correct results: {correct}/{len(outcomes)}; "
        f"server peak memory {peak_bytes / 2**30:.2f} GiB",
        "",
        "| interaction | p50 (s) | p95 (s) | correct |",
        "|---|---|---|---|",
    ]
    for what in dict.fromkeys(o.interaction for o in outcomes):
        group = [o for o in outcomes if o.interaction == what]
        seconds = [o.seconds for o in group]
        lines.append(
            f"| {what} | {percentile(seconds, 0.5):.2f} | {percentile(seconds, 0.95):.2f} | "
            f"{sum(o.correct for o in group)}/{len(group)} |"
        )
    lines.append("")
    lines += [
        f"  session {o.session}: {o.interaction}: {o.seconds:.2f} s, {'ok' if o.correct else 'WRONG'} ({o.detail})"
        for o in outcomes
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    print(report(*asyncio.run(run(count))))
