"""ConvLens core: model zoo, activations, attributions, transfer learning and detection.

Nothing in this package imports Streamlit: every function takes plain values and returns
frozen dataclasses, NumPy arrays, PIL images or Plotly figures that any front end can draw.
"""

__version__ = "0.1.0"
