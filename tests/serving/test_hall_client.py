"""The browserless student of the lecture-hall test speaks Streamlit's protocol to the real server."""

from __future__ import annotations

import asyncio
import concurrent.futures

import numpy as np
import pytest

from bench.serve import offline_env, serve
from bench.st_client import ProtocolError, StreamlitClient
from core import safe_text
from core.io.assets import sample_images
from core.io.images import load_image
from core.models import get_model
from core.models.classification import classify
from core.models.weights import default_key
from core.serving import pictures as shared_render


def _run(coroutine):
    """``asyncio.run`` in a thread of its own: the browser tests' Playwright keeps an event loop in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.mark.slow
def test_a_student_changes_the_sample_and_sees_the_answer_core_gives(isolated_home) -> None:
    model = get_model(default_key())
    best = classify(model, load_image(sample_images()["coffee"]), k=1).top[0]

    async def student(url: str) -> tuple[list[str], list[str], float]:
        client = await StreamlitClient.connect(url)
        try:
            zoo = await client.open("Model zoo")
            changed = await client.set(zoo.widget("sb_sample"), "coffee")
            features = await client.open("Filters & feature maps")
            layer = features.widget("fm_layer")
            moved = await client.set(layer, layer.proto.options[1])  # a fragment rerun
            with pytest.raises(ProtocolError, match="no widget"):
                moved.widget("sb_sample")  # the fragment redraws only itself
            assert client.media and all(url.startswith("/media/") for url in client.media)  # pictures loaded
            return changed.markdown(), moved.captions(), changed.seconds
        finally:
            await client.close()

    with serve("dashboard/app.py", offline_env(isolated_home), isolated_home / "server.log") as (url, _):
        markdown, captions, seconds = _run(student(url))
    want = f"most likely **{safe_text.markdown(best.label)}** ({best.probability:.1%})"
    assert any(want in text for text in markdown), markdown
    assert any(c.startswith("All ") and " maps of " in c for c in captions) and seconds > 0


def test_the_client_refuses_anything_but_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        _run(StreamlitClient.connect("http://example.com:8501"))


def test_shared_pictures_are_keyed_by_an_object_that_is_alive() -> None:
    class Owner:
        pass

    first = Owner()
    a = shared_render.encoded(first, ("x",), lambda: np.zeros((4, 4, 3), "uint8"))
    key = shared_render.token(first)
    del first
    second = Owner()  # may reuse the id of the first: it must not get its token
    assert shared_render.token(second) != key
    assert a.startswith(b"\xff\xd8")  # RGB: JPEG, as st.image would encode it (so it never re-encodes)
    rgba = shared_render.encoded(second, ("y",), lambda: np.zeros((4, 4, 4), "uint8"))
    assert rgba.startswith(b"\x89PNG")
