"""The Streamlit front end of ConvLens (entry: ``dashboard/app.py``)."""
