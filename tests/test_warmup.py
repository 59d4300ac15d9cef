"""The server's warm-up: the first page finds the default model's answer ready; a failure never stops the server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core import models, serving
from core.models import weights
from dashboard import warmup
from tests.apptest import open_page, texts
from tests.conftest import ROOT


@pytest.fixture
def fresh_warmup(monkeypatch: pytest.MonkeyPatch):
    """Empty shared answers and warm-up records (the module keeps them per process)."""
    serving.CLASSIFICATIONS.clear()
    monkeypatch.setattr(warmup, "failures", {})
    monkeypatch.setattr(warmup, "steps_seconds", {})
    monkeypatch.setattr(warmup, "DONE", warmup.threading.Event())
    monkeypatch.setattr(warmup, "STARTED", warmup.threading.Event())
    monkeypatch.setattr(warmup, "SHOWN", warmup.threading.Event())
    warmup.SHOWN.set()  # as if a browser had its first heading: no waiting for one
    return warmup


def test_the_zoo_page_gets_the_warmed_answer_without_computing_it(fresh_warmup) -> None:
    thread = fresh_warmup.start()
    thread.join(timeout=300)
    assert fresh_warmup.DONE.is_set() and not fresh_warmup.failures
    assert "classify the default sample" in fresh_warmup.steps_seconds
    before = serving.CLASSIFICATIONS.stats()
    at = open_page("zoo")
    after = serving.CLASSIFICATIONS.stats()
    assert after["misses"] == before["misses"]  # the page's top-5 was the warm-up's
    assert after["hits"] > before["hits"]
    assert "Top-5 of" in texts(at)


def test_a_broken_default_model_is_logged_and_the_page_shows_the_error(
    fresh_warmup, isolated_home: Path, capsys: pytest.CaptureFixture
) -> None:
    # ResNet-18's file in the torch hub cache makes it the default; these bytes are not a checkpoint.
    card = models.model_card("resnet18")
    broken = weights.hub_checkpoints_dir() / card.weights_file
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"\x00\x01 not a checkpoint" * 100)
    assert models.default_key() == "resnet18"
    fresh_warmup.warm_up()  # returns: never raises
    assert fresh_warmup.DONE.is_set()
    assert "load the default model" in fresh_warmup.failures
    assert "classify the default sample" not in fresh_warmup.steps_seconds
    assert "model cards" in fresh_warmup.steps_seconds  # the steps that do not need the model still ran
    at = open_page("zoo")
    assert at.error and any(card.label in e.value or "resnet18" in e.value.lower() for e in at.error)
    assert "ConvLens warm-up done" in capsys.readouterr().err


def test_the_first_pages_import_no_heavy_library() -> None:
    """Home and the zoo, in a fresh process: Captum, Ultralytics, scikit-learn, the runtimes wait for their pages."""
    heavy = ("captum", "ultralytics", "sklearn", "openvino", "onnxruntime", "plotly.express", "matplotlib")
    script = (
        "import sys\n"
        "from tests.apptest import open_page\n"
        "open_page('zoo')\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
