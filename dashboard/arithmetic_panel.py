"""The feature-map page's convolution arithmetic: output size and parameters on settings the user picks."""

import streamlit as st

from core import features, serving
from core.features import POOLS, ConvSettings, solve, worked_example
from dashboard import state, ui

NO_POOL = "none"


@st.fragment
def arithmetic() -> None:
    """The output-size and parameter formulas on settings the user picks, checked by real torch layers."""
    with ui.user_errors("The convolution arithmetic"):
        _arithmetic()


def _arithmetic() -> None:
    cols = st.columns(7)
    size = cols[0].number_input("Input W", 1, 512, 7, key="fm_ca_size")
    channels = cols[1].number_input("Channels C_in", 1, 512, 3, key="fm_ca_channels")
    kernel = cols[2].number_input("Kernel F", 1, 11, 3, key="fm_ca_kernel")
    stride = cols[3].number_input("Stride S", 1, 8, 2, key="fm_ca_stride")
    padding = cols[4].number_input("Padding P", 0, 5, 1, key="fm_ca_padding")
    filters = cols[5].number_input("Filters C_out", 1, 512, 2, key="fm_ca_filters")
    pool = cols[6].selectbox("Pooling 2x2, stride 2", [NO_POOL, *POOLS], key="fm_ca_pool")
    settings = ConvSettings(size, channels, kernel, stride, padding, filters, None if pool == NO_POOL else pool)
    result = serving.value(settings, ("solve",), lambda: solve(settings))  # the same for every session
    st.latex(result.output_latex)
    st.latex(result.params_latex)
    for problem in result.problems:
        st.warning(problem, icon=":material/block:")
    for note in result.notes:
        st.info(note, icon=":material/lightbulb:")
    if result.shape is not None:
        c, h, w = result.shape
        st.markdown(f"**Output volume: {c}×{h}×{w}** ({result.params:,} parameters).")
    check = "agrees" if result.agrees else "disagrees"
    measured = "×".join(map(str, result.torch_shape)) if result.torch_shape else f"an error: {result.torch_error}"
    st.caption(f"Checked: `{result.torch_layers}` gives {measured} and {result.torch_params:,} parameters ({check}).")
    if result.output is None:
        return
    small = min(size, max(8, kernel - 2 * padding))
    example = serving.value(
        (small, kernel, stride, padding), ("worked",), lambda: worked_example(small, kernel, stride, padding)
    )
    rows, cols = example.output.shape
    state.keep_valid("fm_ca_pos", range(rows * cols), 0)
    if rows * cols > 1:
        st.select_slider(
            "Output position", range(rows * cols), key="fm_ca_pos", format_func=lambda i: str(divmod(i, cols))
        )
    row, col = divmod(st.session_state["fm_ca_pos"], cols)
    figure = serving.value(example, ("figure", row, col), lambda: features.worked_example_figure(example, row, col))
    st.plotly_chart(figure, width="stretch", key="fm_ca_fig")
    grid = f"on a {small}x{small} grid " if small < size else ""
    st.caption(
        f"Worked example {grid}with one channel: output[{row}, {col}] = {example.terms(row, col)}. "
        f"{'Matches' if example.matches_torch else 'Does NOT match'} torch.nn.functional.conv2d. "
        "With C_in channels each filter has one such kernel per channel and adds up their results, plus a bias."
    )
