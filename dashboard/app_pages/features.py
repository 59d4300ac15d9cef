"""Filters & feature maps (placeholder until its own issue, #3, lands)."""

import streamlit as st

st.title("Filters & feature maps")
st.info("This page is being built (issue #3).", icon=":material/construction:")
