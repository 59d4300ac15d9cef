"""YOLO detection (placeholder until its own issue, #6, lands)."""

import streamlit as st

st.title("YOLO detection")
st.info("This page is being built (issue #6).", icon=":material/construction:")
