"""ConvLens entry point: page config, the shared sidebar and navigation.

Run with ``make run`` (or ``streamlit run dashboard/app.py``: the Makefile installs the
repository as a package, so ``core`` and ``dashboard`` import from anywhere).
"""

import streamlit as st

from dashboard import classroom, sidebar

st.set_page_config(page_title="ConvLens", page_icon=":material/center_focus_strong:", layout="wide")

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
classroom.before_sidebar()
sidebar.render(page)
classroom.render()
page.run()
