"""Warm-up at server start: the first visitor's page finds PyTorch imported and the default model's answer ready.

:func:`start` runs :func:`warm_up` in a daemon thread of the server process (``python -m
dashboard`` starts it before Streamlit's server): it imports PyTorch, torchvision and the app's
modules, loads the default model, classifies the default sample into the cache every session
shares (:mod:`core.serving`), and builds the zoo page's card and a first Plotly figure. The page
runs the same calls and finds them done (or waits for the one in progress: the caches load each
key once). The zoo's layer table is left to the page: it traces the model on the ``meta``
device, which loads TorchDynamo (1 s), and it comes below the answer. A failing step is logged
and skipped, never raised: the page then meets the same error itself and shows it.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("convlens.warmup")
STARTED = threading.Event()  # set when the warm-up thread starts
DONE = threading.Event()  # set when the warm-up has finished (whatever it found); the app's script waits for it
SHOWN = threading.Event()  # set by the app's script once a browser has its first heading (the loading state)
HEADING_WAIT_S = 2.0  # how long the warm-up leaves the interpreter to a first visitor's page before it starts
steps_seconds: dict[str, float] = {}  # what each step took, for the log and the start-up benchmark
failures: dict[str, str] = {}  # step -> the error it met
SWITCH_S = 0.0005  # the GIL's switch interval while warming up (Python's default: 0.005)


def _step(name: str, work: Callable[[], object]) -> object | None:
    start = time.perf_counter()
    try:
        return work()
    except Exception as exc:  # the page meets the same error and shows it; the server keeps running
        failures[name] = f"{type(exc).__name__}: {exc}"
        log.warning("warm-up step %r failed (the page will show it): %s", name, failures[name])
        return None
    finally:
        steps_seconds[name] = time.perf_counter() - start


def _import_app() -> None:
    import dashboard.classroom
    import dashboard.compare
    import dashboard.exports
    import dashboard.sidebar
    import dashboard.state
    import dashboard.ui  # noqa: F401
    from core import kit, models, serving  # noqa: F401  (everything the later steps use, imported here)


def _sample():
    from core.io import load_image, sample_images
    from dashboard.sidebar import default_sample

    return load_image(sample_images()[default_sample()].read_bytes())  # the bytes the page decodes


def warm_up() -> None:
    """Import, load and compute what the first page needs, into the caches shared by every session.

    It starts once a first visitor's page shows its heading, or after :data:`HEADING_WAIT_S`:
    importing PyTorch meanwhile competes with the server for the interpreter and delayed that
    heading by a second (``python -m bench.startup``). While it runs, threads switch every
    :data:`SWITCH_S` instead of Python's 5 ms: the server's own thread waits at most that long
    for the GIL each time it wakes up, instead of queueing behind the imports.
    """
    began, interval = time.perf_counter(), sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_S))
    try:
        SHOWN.wait(timeout=HEADING_WAIT_S)  # while the server sends a first page, it does not share the interpreter
        _step("import the app (PyTorch, torchvision, ConvLens)", _import_app)
        if failures:
            return
        from core import models, serving

        key = models.default_key()
        _step("model cards", models.zoo_cards)
        model = _step("load the default model", lambda: models.get_model(key))
        image = _step("decode the default sample", _sample)
        result = None
        if model is not None and image is not None:
            result = _step("classify the default sample", lambda: serving.classify(model, image, k=5))
        if result is not None:
            _step("first figure", lambda: models.topk_figure(result).to_json())
        took = ", ".join(f"{k} {v:.2f} s" for k, v in steps_seconds.items())
        done = time.perf_counter() - began
        print(f"ConvLens warm-up done in {done:.1f} s ({took})", file=sys.stderr, flush=True)  # the server's log
    finally:
        sys.setswitchinterval(interval)
        DONE.set()


EXIT_WAIT_S = 10.0  # how long a stopping server waits for the warm-up to finish its step


def start() -> threading.Thread:
    """Run :func:`warm_up` in a daemon thread; a server stopped meanwhile waits for it (at most :data:`EXIT_WAIT_S`).

    Leaving the interpreter while the thread is inside PyTorch's C++ code aborts the process
    ("terminate called without an active exception").
    """
    STARTED.set()
    thread = threading.Thread(target=warm_up, name="convlens-warmup", daemon=True)
    thread.start()
    atexit.register(DONE.wait, EXIT_WAIT_S)
    return thread
