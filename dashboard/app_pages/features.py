"""Filters & feature maps: what each convolution of the chosen model sees, layer by layer."""

import streamlit as st
from PIL import Image

from core import features, models, safe_text, serving
from core.features import Activations, conv_kernels, input_sizes
from core.models import RANDOM_SEED, LoadedModel, get_model
from core.viz import COLORMAPS, Legend
from dashboard import exports, presenter, state, ui
from dashboard.arithmetic_panel import arithmetic
from dashboard.live_conv_panel import live_convolution

PER_CHANNEL, SHARED = "per channel", "shared"
IN_ORDER, STRONGEST = "channel order", "most active first"
AVERAGE = "average"
QUESTION = "What do these maps respond to?"


def _layer_changed(target: str, source: str) -> None:
    """Keep the slider and the jump list on the same layer; start the new layer on its strongest channel."""
    st.session_state[target] = st.session_state[source]
    state.clear("fm_channel", "fm_kfilter", "fm_kin")
    state.changed()


def _layer_card(acts: Activations, name: str) -> None:
    """The layer's facts in one line (tiles took two rows of the first screen and truncated their values)."""
    layer = acts.layer(name)
    c, h, w = layer.shape
    field = layer.receptive_field
    kernel, stride = "x".join(map(str, layer.kernel)), "x".join(map(str, sorted(set(layer.stride))))
    padding = "x".join(map(str, sorted(set(layer.padding))))
    after = " → ".join(layer.after)
    shown = f"after {after}" if after else "straight from the convolution"
    if field is None:
        where = "an unknown receptive field"
    elif field.is_global:
        where = "the whole image (after a global pooling)"
    else:
        where = f"a {field.label} window of the {acts.image.width} px input, {field.jump[0]} px apart"
    st.caption(
        f"**{name}**: {layer.kind}, kernel {kernel}, stride {stride}, padding {padding}, "
        f"{layer.in_channels} → {layer.out_channels} channels (groups={layer.groups}), output **{c}×{h}×{w}**, "
        f"{layer.params:,} parameters; maps shown {shown}. Each unit sees {where}."
    )


def _map(acts: Activations, name: str, channel: int, cmap: str, side: int = 320) -> bytes:
    """One channel's map about ``side`` px wide, drawn and encoded once for every session that shows it."""
    draw = lambda: features.map_picture(acts.layer(name), channel, cmap, side)  # noqa: E731
    return exports.shared(acts, ("map", name, channel, cmap, side), draw, not acts.trained)[1]


def _feature_maps(acts: Activations, name: str, cmap: str, image_name: str) -> None:
    """Every map of the layer in one grid, its strongest channels, then one channel up close."""
    layer = acts.layer(name)
    controls, picture = presenter.split((3, 2))
    norm = controls.segmented_control(
        "Normalise", [PER_CHANNEL, SHARED], key="fm_norm", default=PER_CHANNEL, required=True
    )
    order = controls.segmented_control("Order", [IN_ORDER, STRONGEST], key="fm_order", default=IN_ORDER, required=True)
    channels = layer.top_channels(layer.out_channels) if order == STRONGEST else None
    title = f"All {layer.out_channels} maps of {name} ({order})"
    scale = "One scale for all: compare strengths." if norm == SHARED else "Each map on its own scale: compare shapes."
    grid, data = exports.shared(  # drawn and encoded once for every session that shows this grid
        acts,
        ("grid", name, cmap, norm, order),
        lambda: Image.fromarray(features.feature_grid(layer, cmap, shared=norm == SHARED, channels=channels)),
        not acts.trained,
    )
    facts = (f"model: {acts.model}", f"image: {image_name}", f"layer: {name}", scale)
    legend = Legend(cmap, "weak", "strong")
    shown = exports.Shown(grid, f"{title}, {acts.model}", facts, legend, not acts.trained, QUESTION)
    with picture:
        width = "stretch" if presenter.on() else 380
        st.image(data, caption=f"{title}; bright = strong response. {scale}", width=width)
        presenter.notice("features", "maps")
    exports.record(shown)
    exports.download(shown, f"feature_maps_{name}.png", "fm_grid_png", where=controls)
    count = min(8, layer.out_channels)
    st.markdown(f"**The {count} most active channels** (highest mean activation)")
    for col, channel in zip(st.columns(count), layer.top_channels(count), strict=True):
        col.image(_map(acts, name, int(channel), cmap, 160), caption=f"#{channel} · {layer.mean[channel]:.2f}")
    _channel(acts, name, cmap)


def _channel(acts: Activations, name: str, cmap: str) -> None:
    """One channel enlarged and over the input, with the layer's statistics."""
    layer = acts.layer(name)
    state.keep_valid("fm_channel", range(layer.out_channels), int(layer.top_channels(1)[0]))
    channel = st.slider("Channel", 0, layer.out_channels - 1, key="fm_channel", on_change=state.changed)
    seen = serving.value(
        acts, ("on image", name, channel, cmap), lambda: features.channel_on_image(acts, layer, channel, cmap)
    )
    left, right = st.columns(2)
    left.image(_map(acts, name, channel, cmap), caption=f"Channel {channel} of {name}, enlarged", width="stretch")
    boxed = f"the box is what its strongest unit {seen.unit} sees" if seen.window else "no box: it sees everything"
    _, on_image = exports.shared(acts, ("on image", name, channel, cmap), lambda: seen.picture, not acts.trained)
    right.image(on_image, caption=f"Over the input: {boxed}", width="stretch")
    cols = st.columns(3)
    cols[0].metric("Mean activation", f"{float(layer.mean.mean()):.3f}")
    cols[1].metric("Zero after ReLU", f"{float(layer.zeros.mean()):.0%}", help="Share of units at or below zero")
    cols[2].metric("Dead channels", int((layer.peak <= 0).sum()), help="Channels that never fire on this image")
    stats = serving.value(acts, ("stats", name, channel), lambda: features.channel_stats_figure(layer, channel))
    st.plotly_chart(stats, width="stretch", key="fm_stats")


def _filters(model: LoadedModel, name: str) -> None:
    kernels = serving.value(model.module, ("kernels", name), lambda: conv_kernels(model, name))
    out_channels, per_group = kernels.weights.shape[:2]
    views = features.KERNEL_VIEWS if per_group == 3 else features.KERNEL_VIEWS[1:]
    state.keep_valid("fm_kview", views, views[0])
    view = st.segmented_control("Show", views, key="fm_kview", required=True)
    by_norm = st.toggle("Sort by norm (strongest filters first)", key="fm_knorm")
    order = kernels.order(by_norm)
    state.keep_valid("fm_kfilter", range(out_channels), int(order[0]))
    state.keep_valid("fm_kin", [AVERAGE, *range(per_group)], AVERAGE)
    left, right = st.columns(2)
    chosen = left.number_input("Filter", 0, out_channels - 1, key="fm_kfilter")
    plane = right.selectbox("Input channel", [AVERAGE, *range(per_group)], key="fm_kin")
    left, right = st.columns([3, 2])
    shown = "filter " + str(chosen) if view == features.KERNEL_VIEWS[2] else f"{out_channels} filters"
    colours = "grey = 0" if view == features.KERNEL_VIEWS[0] else "blue < 0 < red"
    left.image(
        serving.encoded(
            kernels, ("grid", view, by_norm, chosen), lambda: features.kernel_grid(kernels, view, order, chosen)
        ),
        caption=f"{name}: {shown}, {view}; {colours}, each kernel scaled to its own largest weight"
        + (", strongest first." if by_norm and view != features.KERNEL_VIEWS[2] else "."),
        width="stretch",
    )
    if model.trained and left.toggle(
        "Beside the random kernels of an untrained copy",
        key="fm_kinit",
        help="The same architecture with random weights, as training starts: learning turns noise into edges and "
        "colour blobs.",
    ):
        start = conv_kernels(get_model(model.key, pretrained=False, device=model.device), name)
        left.image(
            features.kernel_grid(start, view, start.order(by_norm), chosen),
            caption=f"{name} untrained: random weights (PyTorch's default initialisation, seed {RANDOM_SEED}).",
            width="stretch",
        )
    weights = kernels.weights[chosen]
    kernel = weights.mean(axis=0) if plane == AVERAGE else weights[plane]
    title = f"filter {chosen}, " + ("averaged over inputs" if plane == AVERAGE else f"input channel {plane}")
    heatmap = serving.value(kernels, ("heatmap", chosen, plane), lambda: features.kernel_heatmap(kernel, title))
    right.plotly_chart(heatmap, width="stretch", key="fm_kernel")
    right.caption(
        f"Norm {kernels.norms[chosen]:.3f}. The filter's response at a position is the sum of these weights times "
        "the input under them (over every input channel), plus a bias."
    )


@st.fragment
def explore(
    model: LoadedModel, acts: Activations, cmap: str, image: Image.Image, size: int | None, image_name: str
) -> None:
    """Layer slider and jump list, the layer's card, its feature maps and its filters."""
    names = acts.names
    state.keep_valid("fm_layer", names, names[0])
    state.keep_valid("fm_jump", names, st.session_state["fm_layer"])
    slider, jump = st.columns([3, 1])
    slider.select_slider(
        f"Layer by layer: {len(names)} convolutions in forward order",
        names,
        key="fm_layer",
        on_change=_layer_changed,
        args=("fm_jump", "fm_layer"),
    )
    jump.selectbox("Jump to a layer", names, key="fm_jump", on_change=_layer_changed, args=("fm_layer", "fm_jump"))
    name = st.session_state["fm_layer"]
    _layer_card(acts, name)
    maps_tab, filters_tab, live_tab = st.tabs(["Feature maps", "Filters", "The convolution, live"])
    with maps_tab, ui.user_errors("Drawing the feature maps"):
        _feature_maps(acts, name, cmap, image_name)
    with filters_tab, ui.user_errors("Drawing the filters"):
        _filters(model, name)
    with live_tab, ui.user_errors("The live convolution"):
        live_convolution(model, acts, name, image, size)


@st.fragment
def depth(acts: Activations, cmap: str) -> None:
    """One representative map per resolution, from the stem to the last block."""
    on_image = st.toggle("Show over the image", key="fm_strip_image", value=True)
    panels = serving.value(acts, ("depth", cmap, on_image), lambda: features.depth_strip(acts, cmap, on_image))
    for col, panel in zip(st.columns(len(panels)), panels, strict=True):
        c, h, w = panel.shape
        col.image(
            exports.honest(panel.picture, not acts.trained),
            caption=f"{panel.layer}\n{c}×{h}×{w} · #{panel.channel} · RF {panel.receptive_field}",
        )
    st.caption(
        "Left to right: maps get coarser and more numerous while each unit sees more of the image. "
        "Early units react to edges and colours, later ones to textures, parts and whole objects."
    )


st.title(
    "Filters & feature maps",
    help="A convolution slides small **filters** over its input and writes one **feature map** per filter: "
    "bright where the input looks like the filter. Layer after layer the maps get smaller and more numerous, "
    "and what they respond to climbs from edges and colours to textures, parts and whole objects.",
)
with st.sidebar:  # the first screen is for the picture
    state.reset_button("fm_")

picked = ui.selected_image()
model = ui.selected_model()
acts = None
if picked is not None and model is not None:
    image, caption = picked
    ui.untrained_badge(model)
    sizes = input_sizes(model)
    if st.session_state.get("fm_size_of", model.key) != model.key:  # another model starts at its own size
        st.session_state["fm_size"] = sizes[0]
    st.session_state["fm_size_of"] = model.key
    state.keep_valid("fm_size", sizes, sizes[0])
    side = st.sidebar.container()  # page settings in the sidebar: the first screen is for the picture
    cmap = side.selectbox("Colormap", COLORMAPS, key="fm_cmap", help="For every feature map on this page")
    size = side.selectbox(
        "Input size (pixels a side)",
        sizes,
        key="fm_size",
        help="The image is resized and centre-cropped to this size, as the model's own preprocessing does.",
    )
    with ui.user_errors("Capturing the feature maps"), st.spinner("One forward pass captures every convolution..."):
        acts = serving.activations(model, image, size)  # shared by every session
if acts is not None:
    st.caption(
        f"{acts.model} on {safe_text.markdown(caption)}: {len(acts.layers)} convolutions captured in one pass "
        f"({acts.forward_ms:.0f} ms, {acts.nbytes / 2**20:.1f} MB); moving through them never re-runs the model."
    )
    if note := models.vocabulary_note(model.card, caption):
        st.info(note, icon=":material/category:")
    explore(model, acts, cmap, image, size, caption)
    st.subheader("Across depth: from edges to objects")
    depth(acts, cmap)

st.subheader("Convolution arithmetic")
st.markdown(
    "Output side **(W − F + 2P) / S + 1** and parameters **(F·F·C_in + 1)·C_out**, "
    "checked against a real `torch.nn.Conv2d`."
)
arithmetic()
