"""The filters page's "convolution, live" tab: one unit of the real layer, every number written out."""

from __future__ import annotations

import streamlit as st
from PIL import Image

from core import features
from core.features import Activations, LayerTrace, LiveCell, explain_cell, get_trace, sweep
from core.models import LoadedModel
from core.viz import to_png


def _keep_in(key: str, limit: int, default: int) -> int:
    if not 0 <= st.session_state.get(key, -1) < limit:
        st.session_state[key] = default
    return st.session_state[key]


def _numbers(cell: LiveCell, trace: LayerTrace) -> None:
    rows = [
        {"step": "convolution: Σ contributions + bias", "computed here": cell.conv_value, "the model": cell.conv_model}
    ]
    rows += [{"step": f"{t.type}: {t.formula}", "computed here": t.value, "the model": t.model} for t in cell.steps]
    if cell.pool is not None:
        p = cell.pool
        rows.append(
            {"step": f"{p.type} over a {p.window.shape[0]}×{p.window.shape[1]} window → unit {p.unit}",
             "computed here": p.value, "the model": p.model}
        )  # fmt: skip
    st.dataframe(
        rows, hide_index=True, width="stretch", column_config={"step": st.column_config.TextColumn(width="large")}
    )
    gap = max(abs(r["computed here"] - r["the model"]) for r in rows)
    st.caption(
        f"Largest difference from the model's own numbers: {gap:.1e} (float32 rounding). "
        + (f"The chain stops here: {trace.stopped}." if trace.stopped else "")
    )


def _pick(height: int, width: int) -> None:
    """A click on the map (its selection) moves the unit sliders there."""
    cell = features.picked_unit(st.session_state.get("fm_live_pick"), height, width)
    if cell is not None:
        st.session_state["fm_live_row"], st.session_state["fm_live_col"] = cell


def _sweep(trace: LayerTrace, channel: int, row: int, col: int, input_channel: int) -> None:
    """The kernel sliding over a small crop: built only when asked for (an animation costs ~0.1 s per move)."""
    if not st.toggle("Step by step: the kernel sliding over a small crop (press play)", key="fm_live_play"):
        return
    shown = sweep(trace, channel, row, col, input_channel)
    st.plotly_chart(features.sweep_figure(shown), width="stretch", key="fm_live_sweep")


def _unit(trace: LayerTrace, layer, channel: int) -> tuple[int, int]:
    """The unit sliders (a click on the map moves them), starting at the channel's strongest unit."""
    _, height, width = trace.output.shape
    strongest = divmod(int(layer.maps[channel].argmax()), width)
    _keep_in("fm_live_row", height, strongest[0])
    _keep_in("fm_live_col", width, strongest[1])
    left, right = st.columns(2)
    row = left.slider("Unit row", 0, height - 1, key="fm_live_row")
    col = right.slider("Unit column", 0, width - 1, key="fm_live_col")
    return row, col


def live_convolution(model: LoadedModel, acts: Activations, name: str, image: Image.Image, size: int | None) -> None:
    """Pick a unit of the layer's chosen channel (click the map, or the sliders) and show how the model computes it."""
    layer = acts.layer(name)
    st.markdown(
        "One unit of the feature map is a sum: the filter's weights times the input under them, over every input "
        "channel it sees, plus a bias; then the steps the model applies after the convolution."
    )
    if not st.toggle("Compute this layer live (runs the model once; moving the unit is then instant)", key="fm_live"):
        return
    with st.spinner("One forward pass records this layer's input..."):
        trace = get_trace(model, image, name, size)
    channel = _keep_in("fm_channel", trace.output.shape[0], 0)
    row, col = _unit(trace, layer, channel)
    cell = explain_cell(trace, channel, row, col)

    cols = st.columns([2, 2, 3])
    photo = features.field_on_image(acts.image, layer.receptive_field, row, col)
    cols[0].image(
        photo, caption=f"What unit ({row}, {col}) sees: {layer.receptive_field.label if layer.receptive_field else '?'}"
    )
    with cols[1]:
        figure = features.unit_map_figure(trace.output[channel], row, col, f"channel {channel}: click a unit")
        st.plotly_chart(figure, width="stretch", key="fm_live_pick", on_select=lambda: _pick(*trace.output.shape[1:]),
                        selection_mode="points", config={"displayModeBar": False})  # fmt: skip
        st.caption("Before the steps after the convolution (as in the Feature maps tab, which shows after them).")
    with cols[2]:
        st.metric("Value computed here", f"{cell.value:.4f}")
        st.metric("The model's value", f"{cell.model_value:.4f}", help="Read from the layer's own output")
        st.download_button("Numbers (CSV)", cell.csv(), f"{name}_c{channel}_{row}_{col}.csv", "text/csv",
                           key="fm_live_csv", icon=":material/download:")  # fmt: skip
        st.download_button("Window on the photo (PNG)", to_png(photo), f"{name}_field.png", "image/png",
                           key="fm_live_png", icon=":material/download:")  # fmt: skip
    st.plotly_chart(features.contributions_figure(cell), width="stretch", key="fm_live_sum")
    _numbers(cell, trace)
    if cell.pool is not None:
        st.plotly_chart(features.pool_figure(cell.pool), width="stretch", key="fm_live_pool")
        st.caption("Blank cells of the window hang over the border (padding): they do not count.")

    order = [int(i) for i in cell.order]
    labels = {f"input channel {cell.input_channels[i]}": i for i in order}
    if st.session_state.get("fm_live_in") not in labels:
        st.session_state["fm_live_in"] = next(iter(labels))
    picked = st.selectbox("Input channel, largest contribution first", list(labels), key="fm_live_in")
    position = labels[picked]
    st.plotly_chart(features.patch_figure(cell, position), width="stretch", key="fm_live_patch")
    _sweep(trace, channel, row, col, int(cell.input_channels[position]))
