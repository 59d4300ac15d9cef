"""Transfer learning (placeholder until its own issue, #5, lands)."""

import streamlit as st

st.title("Transfer learning")
st.info("This page is being built (issue #5).", icon=":material/construction:")
