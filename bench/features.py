"""Feature-map page speed: capture against a plain forward, redraw after a layer change, tiled rendering.

Run: ``.venv/bin/python -m bench.features``. Seeded random weights (speed does not depend on their
values), the sample cat image, 224x224, the CPU. Every round times each contender once, in a
rotating order, so that load from other processes on a shared machine hits them all alike; the
figures are medians over the rounds. The capture rows are also given in CPU time of this process on
one thread, which time taken by other processes does not inflate.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from bench.common import Row, median_seconds, table
from core.config.device import inference
from core.features import live_pictures as lv
from core.features import pictures as fv
from core.features.capture import ACTIVATIONS, capture, conv_kernels
from core.features.live_cell import explain_cell, sweep
from core.features.live_conv import trace
from core.io.assets import sample_images
from core.io.images import load_image
from core.models.loading import get_model
from core.models.registry import model_card
from core.models.weights import locate
from tests.apptest import open_page

CAPTURE_MODELS = ("resnet18", "resnet50", "densenet121", "efficientnet_lite0")
ROUNDS = 9
CPU = torch.device("cpu")


def _rounds(runs: dict[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, float]:
    """Median wall-clock milliseconds of each run, timed once per round in a rotating order."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for run in runs.values():
        run()  # warm-up
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            times[name].append(median_seconds(runs[name], repeat=1, warmup=0) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def _cpu_rounds(runs: dict[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, float]:
    """Like :func:`_rounds`, in CPU milliseconds of this process on one thread.

    Time taken by other processes does not count, and one thread never spins waiting for another.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for round_ in range(rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                start = time.process_time()
                runs[name]()
                times[name].append((time.process_time() - start) * 1000)
    finally:
        torch.set_num_threads(threads)
    return {name: statistics.median(values) for name, values in times.items()}


def capture_rows(keys: tuple[str, ...] = CAPTURE_MODELS) -> list[Row]:
    """One capture of every conv map against the same model's plain forward (preprocessing in both).

    Pretrained weights where they are on this machine (EfficientNet-Lite0's always are).
    """
    image = load_image(sample_images()["cat"])
    rows = []
    for key in keys:
        model = get_model(key, pretrained=locate(model_card(key)).available, device=CPU)

        def plain(model=model) -> None:
            with inference(model.device):
                model.module(model.to_input(image))

        runs = {"ours": lambda model=model: capture(model, image), "peer": plain}
        wall, cpu = _rounds(runs), _cpu_rounds(runs)
        what = f"capture all {len(capture(model, image).layers)} conv maps, {model.card.label}, 224 px, CPU"
        rows.append(Row(what, wall["ours"], "plain forward", wall["peer"], "<= 1.3x"))
        rows.append(Row(f"{what} (CPU time, 1 thread)", cpu["ours"], "plain forward", cpu["peer"], "<= 1.3x", "ms CPU"))
    return rows


def redraw(acts, model, name: str, cmap: str = "viridis") -> None:
    """What the page computes after a layer change: every picture and figure of the layer explorer."""
    layer = acts.layer(name)
    fv.feature_grid(layer, cmap, shared=False)
    for channel in layer.top_channels(8):
        fv.map_picture(layer, int(channel), cmap, 160)
    channel = int(layer.top_channels(1)[0])
    fv.map_picture(layer, channel, cmap)
    fv.channel_on_image(acts, layer, channel, cmap)
    fv.channel_stats_figure(layer, channel).to_json()
    kernels = conv_kernels(model, name)
    fv.kernel_grid(kernels, fv.KERNEL_VIEWS[1], kernels.order(False))
    fv.kernel_heatmap(kernels.weights[channel].mean(axis=0), "kernel").to_json()


def redraw_rows() -> list[Row]:
    """Server time after a layer change (full AppTest rerun, and the drawing alone) against re-running the model."""
    image = load_image(sample_images()["cat"])
    model = get_model("resnet18", pretrained=False, device=CPU)
    acts = capture(model, image)
    at = open_page("features", sb_model="resnet18", sb_weights="Random (untrained)", sb_sample="cat")
    layers = {name: iter(acts.names[1:] * 1000) for name in ("app", "draw", "peer")}  # the same walk for each

    def rerun() -> None:
        at.select_slider(key="fm_layer").set_value(next(layers["app"])).run()

    ms = _rounds(
        {
            "app": rerun,
            "draw": lambda: redraw(acts, model, next(layers["draw"])),
            "peer": lambda: redraw(capture(model, image), model, next(layers["peer"])),
        }
    )
    if at.exception:
        raise RuntimeError([e.value for e in at.exception])
    peer = "capture + drawing (re-running the model)"
    return [
        Row(
            "layer change: full page rerun (AppTest), ResNet-18, 224 px, CPU", ms["app"], peer, ms["peer"], "<= 150 ms"
        ),
        Row("layer change: drawing only (NumPy grids + Plotly JSON)", ms["draw"], peer, ms["peer"], "<= 150 ms"),
    ]


def plotly_subplots(maps: np.ndarray) -> str:
    """The approach we avoid: one Plotly heatmap subplot per channel, serialised as the browser gets it."""
    columns = int(np.ceil(np.sqrt(len(maps))))
    rows = int(np.ceil(len(maps) / columns))
    fig = make_subplots(rows, columns, horizontal_spacing=0.002, vertical_spacing=0.002)
    for i, values in enumerate(maps):
        fig.add_trace(go.Heatmap(z=values, showscale=False), i // columns + 1, i % columns + 1)
    return fig.to_json()


def tile_rows() -> list[Row]:
    """All 512 maps of ResNet-18's last conv as one NumPy image against 512 Plotly subplots."""
    model = get_model("resnet18", pretrained=False, device=CPU)
    layer = capture(model, load_image(sample_images()["cat"])).layer("layer4.1.conv2")
    maps = layer.maps.astype(np.float32)
    ms = _rounds(
        {"ours": lambda: fv.feature_grid(layer, "viridis", shared=False), "peer": lambda: plotly_subplots(maps)},
        rounds=3,
    )
    return [Row("512-channel layer (7x7 maps) as one picture", ms["ours"], "512 Plotly subplots", ms["peer"], "-")]


def live_cell_move(layer_trace, acts, layer, moves) -> None:
    """What the live-convolution tab computes when the unit moves: the numbers, every figure, the pictures."""
    channel, row, col = next(moves)
    cell = explain_cell(layer_trace, channel, row, col)
    lv.contributions_figure(cell).to_json()
    lv.patch_figure(cell, int(cell.order[0])).to_json()
    lv.sweep_figure(sweep(layer_trace, channel, row, col, int(cell.input_channels[cell.order[0]]))).to_json()
    lv.field_on_image(acts.image, layer.receptive_field, row, col)
    lv.map_with_unit(layer_trace.output[channel], row, col, "viridis")
    cell.csv()


def live_rows() -> list[Row]:
    """Server time of one unit move in the live-convolution tab against a plain forward (what it never re-runs)."""
    image = load_image(sample_images()["cat"])
    model = get_model("resnet18", pretrained=False, device=CPU)
    acts = capture(model, image)

    def plain() -> None:
        with inference(model.device):
            model.module(model.to_input(image))

    rows = []
    for name in ("conv1", "layer3.0.conv2"):
        layer_trace, layer = trace(model, image, name), acts.layer(name)
        c, h, w = layer_trace.output.shape
        moves = iter([(i % c, (3 * i) % h, (5 * i) % w) for i in range(1000)])
        ms = _rounds({"ours": lambda t=layer_trace, la=layer, m=moves: live_cell_move(t, acts, la, m), "peer": plain})
        what = f"live convolution: one unit move, {name} ({layer.in_channels} inputs), ResNet-18, 224 px, CPU"
        rows.append(Row(what, ms["ours"], "plain forward (never re-run)", ms["peer"], "<= 100 ms"))
    return rows


def rows() -> list[Row]:
    ACTIVATIONS.clear()
    return [*capture_rows(), *redraw_rows(), *tile_rows(), *live_rows()]


if __name__ == "__main__":  # ``[model ...]``: only the capture rows of those models; ``--live``: the live rows
    models = tuple(arg for arg in sys.argv[1:] if not arg.startswith("--"))
    print(table(live_rows() if "--live" in sys.argv else capture_rows(models) if models else rows()))
