"""ConvLens entry point: page config, the shared sidebar and navigation.

Run with ``make run`` (or ``streamlit run dashboard/app.py`` from the repository root).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `core` lives beside `dashboard`
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core import serving  # noqa: E402
from dashboard import sidebar  # noqa: E402

st.set_page_config(page_title="ConvLens", page_icon=":material/center_focus_strong:", layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/zoo.py", title="Model zoo", icon=":material/grid_view:"),
    st.Page("app_pages/features.py", title="Filters & feature maps", icon=":material/layers:"),
    st.Page("app_pages/gradcam.py", title="Grad-CAM & attributions", icon=":material/local_fire_department:"),
    st.Page("app_pages/transfer.py", title="Transfer learning", icon=":material/model_training:"),
    st.Page("app_pages/detection.py", title="YOLO detection", icon=":material/center_focus_weak:"),
]
page = st.navigation(PAGES)
sidebar.render(page)
page.run()
serving.freeze_startup_objects()  # once per process, after the first page: cheap full collections later
