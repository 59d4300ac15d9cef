"""The live convolution: server time of one unit move against a plain forward of the same model.

Run: ``.venv/bin/python -m bench.live_conv``. A unit move (a click on the map, or a slider) never
runs the model: the page writes out the unit from the recorded layer and redraws its pictures.
Timed here as the page does it: the numbers (:func:`core.features.explain_cell`), the window on the
photo and its PNG, the clickable map, the waterfall, the patch and pooling figures, each figure
serialised as ``st.plotly_chart`` does; and, when the sweep animation is switched on, that too.
The peer is one plain forward of the same model on the same image (medians, same run).
"""

from __future__ import annotations

import io

import plotly.io as pio
import plotly.tools
from PIL import Image

from bench.common import Row, median_seconds, table
from core import features
from core.config.device import default_device, inference
from core.features.capture import model_input
from core.io import sample_images
from core.models.loading import get_model
from core.util.hooks import conv_layers

MODELS = (("efficientnet_lite0", True, 3), ("tiny_vgg", True, 1), ("resnet18", False, 1))


def _sent(fig) -> None:
    """What ``st.plotly_chart`` does with a figure before it leaves the server."""
    pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True), validate=False)


def move(trace, acts, name: str, channel: int, row: int, col: int, play: bool = False) -> None:
    """Everything the live tab computes after the unit moves to (row, col)."""
    layer = acts.layer(name)
    cell = features.explain_cell(trace, channel, row, col)
    photo = features.field_on_image(acts.image, layer.receptive_field, row, col)
    photo.save(io.BytesIO(), format="PNG")
    figures = [
        features.unit_map_figure(trace.output[channel], row, col, "map"),
        features.contributions_figure(cell),
        features.patch_figure(cell, 0),
    ]
    if cell.pool is not None:
        figures.append(features.pool_figure(cell.pool))
    if play:
        figures.append(features.sweep_figure(features.sweep(trace, channel, row, col, int(cell.input_channels[0]))))
    for fig in figures:
        _sent(fig)
    cell.csv()


def rows() -> list[Row]:
    image = Image.open(next(iter(sample_images().values()))).convert("RGB")
    found = []
    for key, pretrained, index in MODELS:
        model = get_model(key, pretrained=pretrained, device=default_device())
        name = [n for n, _ in conv_layers(model.module)][index]
        acts = features.get_activations(model, image)
        trace = features.get_trace(model, image, name)
        _, height, width = trace.output.shape
        units = iter(((r * 7) % height, (r * 5) % width) for r in range(10**6))
        batch, _ = model_input(model, image)

        def forward(model=model, batch=batch) -> None:
            with inference(model.device):
                model.module(batch)

        peer = median_seconds(forward, repeat=9) * 1000
        what = f"unit move, {model.card.label} {name} ({height}x{width}), {model.device.type}"
        for play in (False, True):
            args = (trace, acts, name, 0)
            ours = median_seconds(lambda a=args, u=units, p=play: move(*a, *next(u), p), repeat=9) * 1000
            label = what + (", sweep animation on" if play else "")
            found.append(Row(label, ours, "plain forward", peer, "<= 100 ms" if not play else "-"))
    return found


if __name__ == "__main__":
    print(table(rows()))
