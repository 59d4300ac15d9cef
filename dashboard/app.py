"""ConvLens entry point: page config, the shared sidebar and navigation.

Run with ``make run`` (``python -m dashboard``: this file plus a warm-up thread that imports
PyTorch and prepares the default model's answer while the server starts, see
:mod:`dashboard.warmup`), or ``streamlit run dashboard/app.py`` (no warm-up). The Makefile
installs the repository as a package, so ``core`` and ``dashboard`` import from anywhere.

The first run of a fresh server imports PyTorch (seconds): a heading and a loading line are
drawn before that, so the browser never shows a blank page. Captum and Ultralytics load only
on the pages that use them.
"""

import importlib
import sys

import streamlit as st

st.set_page_config(page_title="ConvLens", page_icon=":material/center_focus_strong:", layout="wide")


def _warming_up() -> bool:
    """Whether ``python -m dashboard``'s warm-up is still preparing the first answer (never with ``streamlit run``)."""
    warmup = sys.modules.get("dashboard.warmup")
    return warmup is not None and warmup.STARTED.is_set() and not warmup.DONE.is_set()


def _modules():
    """The app's own modules; on a cold server, with a loading state shown while PyTorch imports.

    While the warm-up imports them and prepares the first answer, the page waits for it instead of
    importing the same modules at the same time (two threads importing one circle of modules can
    each see the other's half-done) and competing for the interpreter.
    """
    if "dashboard.state" in sys.modules and not _warming_up():
        return sys.modules["dashboard.sidebar"], sys.modules["dashboard.state"]
    loading = st.empty()
    with loading.container():
        st.title("ConvLens", anchor=False)
        st.info(
            "Starting up: loading PyTorch and the models (only after the server starts)…",
            icon=":material/hourglass_top:",
        )
    if _warming_up():
        sys.modules["dashboard.warmup"].SHOWN.set()  # the warm-up goes on once this page has its heading
        sys.modules["dashboard.warmup"].DONE.wait(timeout=600)
    modules = importlib.import_module("dashboard.sidebar"), importlib.import_module("dashboard.state")
    loading.empty()
    return modules


sidebar, state = _modules()
classroom = importlib.import_module("dashboard.classroom")  # presenter mode, lessons, worksheet (PyTorch is loaded)
PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/zoo.py", title="Model zoo", icon=":material/grid_view:"),
    st.Page("app_pages/features.py", title="Filters & feature maps", icon=":material/layers:"),
    st.Page("app_pages/units.py", title="What units learned", icon=":material/psychology:"),
    st.Page("app_pages/gradcam.py", title="Grad-CAM & attributions", icon=":material/local_fire_department:"),
    st.Page("app_pages/transfer.py", title="Transfer learning", icon=":material/model_training:"),
    st.Page("app_pages/detection.py", title="YOLO detection", icon=":material/center_focus_weak:"),
    st.Page("app_pages/det_lab.py", title="Detection lab", icon=":material/select_all:"),
]
page = st.navigation(PAGES)
classroom.before_sidebar()  # a lesson step's settings, before sync() stores them
state.sync()
state.link_notes()
sidebar.render(page)
with st.sidebar:
    state.share_link()
classroom.render()
page.run()
# Once per process, after the first page (so after torch and the models): cheap full collections later.
importlib.import_module("core.serving").freeze_startup_objects()
