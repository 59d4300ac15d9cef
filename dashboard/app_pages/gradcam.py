"""Grad-CAM & attributions (placeholder until its own issue, #4, lands)."""

import streamlit as st

st.title("Grad-CAM & attributions")
st.info("This page is being built (issue #4).", icon=":material/construction:")
