"""Pictures of detection: judged boxes on the image, the IoU explainer, the PR curve and the confusion matrix.

One style everywhere: predictions are solid lines (green TP, red FP, blue when the image has no
ground truth), ground truth is dashed (white when found, orange when missed: FN), and every
intersection of a matched pair is hatched yellow and labelled with its IoU.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageColor, ImageDraw, ImageFont

from core import safe_text
from core.detection.boxes import IoUParts
from core.detection.metrics import ConfusionMatrix, ImageResult, PRCurve
from core.viz.theme import light_figure

TP, FP, FN = "#2ca02c", "#d62728", "#ff7f0e"
PREDICTED = "#1f77b4"  # a prediction on an image without ground truth
TRUTH = "#ffffff"  # a ground-truth box that was found
OVERLAP = "#ffd92f"  # the intersection of two boxes
OUTLINE = "#000000"  # under dashed lines and around tags, so they show on light and dark images
# Per-class colours for charts: none of them is a TP, FP, FN or prediction colour.
CLASS_COLOURS = ("#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f", "#393b79", "#637939")
_DARK_TEXT = {OVERLAP, TRUTH, FN}


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=512)
def _dashes(length: int, width: int, colour: str, horizontal: bool) -> Image.Image:
    """A strip of ``colour`` dashes alternating with dark ones (cached: sides repeat from draw to draw)."""
    on = (np.arange(length) // (4 * width)) % 2 == 0
    strip = np.broadcast_to(
        np.where(on[:, None], ImageColor.getrgb(colour), ImageColor.getrgb(OUTLINE)).astype(np.uint8),
        (width, length, 3),
    )
    return Image.fromarray(np.ascontiguousarray(strip if horizontal else strip.transpose(1, 0, 2)))


def _dashed_rectangle(canvas: Image.Image, box: Iterable[float], colour: str, width: int) -> None:
    """A rectangle of ``colour`` dashes alternating with dark ones, so it shows on any background."""
    x1, y1, x2, y2 = (round(v) for v in box)
    half = width // 2
    sides = ((x1, y1, x2 - x1, True), (x1, y2, x2 - x1, True), (x1, y1, y2 - y1, False), (x2, y1, y2 - y1, False))
    for x, y, length, horizontal in sides:
        if length > 0:
            canvas.paste(_dashes(length + width, width, colour, horizontal), (x - half, y - half))


@functools.lru_cache(maxsize=1024)
def _tag_image(text: str, colour: str, size: int) -> Image.Image:
    """A filled label with an outline (cached: moving a slider redraws the same labels)."""
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    pad = max(2, (bottom - top) // 5)
    tag = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), colour)
    draw = ImageDraw.Draw(tag)
    draw.rectangle((0, 0, tag.width - 1, tag.height - 1), outline=OUTLINE)
    draw.text((pad - left, pad - top), text, fill="black" if colour in _DARK_TEXT else "white", font=font)
    return tag


class _Tags:
    """Labels that move aside instead of covering each other."""

    def __init__(self, canvas: Image.Image, size: int) -> None:
        self.canvas, self.size = canvas, size
        self.placed: list[tuple[int, int, int, int]] = []

    def _free(self, box: tuple[int, int, int, int]) -> bool:
        x1, y1, x2, y2 = box
        return all(x2 <= a or c <= x1 or y2 <= b or d <= y1 for a, b, c, d in self.placed)

    def add(self, xy: tuple[float, float], text: str, colour: str, above: bool = True) -> None:
        """A label with its bottom (``above``) or top at ``xy``, kept inside the image and off other labels."""
        tag = _tag_image(text, colour, self.size)
        x = int(min(max(xy[0], 0), self.canvas.width - tag.width))
        y0 = int(xy[1] - tag.height if above else xy[1])
        for shift in (0, 1, -1, 2, -2, 3, -3):
            y = min(max(y0 + shift * tag.height, 0), self.canvas.height - tag.height)
            box = (x, y, x + tag.width, y + tag.height)
            if self._free(box):
                break
        self.placed.append(box)
        self.canvas.paste(tag, (x, y))


def _hatch(draw: ImageDraw.ImageDraw, box: Iterable[float], colour: str, spacing: int, width: int) -> None:
    """Diagonal stripes across ``box``, drawn as one zigzag line (so the box's edges are drawn too).

    A ``width``-pixel stripe is ``width`` one-pixel zigzags side by side: PIL draws thin lines an
    order of magnitude faster than wide ones.
    """
    x1, y1, x2, y2 = (round(v) for v in box)
    points = []
    for i, c in enumerate(range(x1 + y1, x2 + y2 + 1, spacing)):  # the stripe x + y = c, clipped to the box
        top, bottom = max(y1, c - x2), min(y2, c - x1)
        ends = [(c - top, top), (c - bottom, bottom)]
        points += ends if i % 2 else ends[::-1]
    if len(points) > 1:
        for shift in range(width):
            draw.line([(x + shift, y) for x, y in points] if shift else points, fill=colour, width=1)


def draw_detections(image: Image.Image, result: ImageResult, names: Mapping[int, str]) -> Image.Image:
    """The image with its judged detections: shaded intersections with IoU, dashed truth, solid predictions."""
    canvas = image.copy() if image.mode == "RGB" else image.convert("RGB")
    scale = max(canvas.size) / 640
    # Labels about 2.5% of the image's longer side: readable on a projector at any resolution.
    width, tags = max(2, round(2 * scale)), _Tags(canvas, max(14, round(0.025 * max(canvas.size))))
    dets, truth = result.detections, result.truth
    draw = ImageDraw.Draw(canvas)
    overlaps = []
    for d in np.flatnonzero(result.det_tp):  # all False without ground truth
        a, b = dets.boxes[d], truth.boxes[result.det_gt[d]]
        inter = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
        _hatch(draw, inter, OVERLAP, 12 * width, max(1, width // 2))  # sparse: the object stays visible
        overlaps.append((inter, result.det_iou[d]))
    colours = [PREDICTED if truth is None else (TP if tp else FP) for tp in result.det_tp]
    if truth is not None:
        for box, found in zip(truth.boxes, result.gt_tp, strict=True):
            _dashed_rectangle(canvas, box, TRUTH if found else FN, width)
    for d in reversed(range(len(dets))):  # the best box is drawn last, on top
        draw.rectangle(tuple(dets.boxes[d]), outline=colours[d], width=width)
    for d in range(len(dets)):  # the best box gets its label where it wants it
        verdict = "" if truth is None else (" TP" if result.det_tp[d] else " FP")
        text = f"{names.get(int(dets.classes[d]), dets.classes[d])} {dets.scores[d]:.2f}{verdict}"
        tags.add((dets.boxes[d][0], dets.boxes[d][1]), text, colours[d])
    for inter, iou in overlaps:
        tags.add((inter[0], inter[3]), f"IoU {iou:.2f}", OVERLAP)
    if truth is not None:
        for box, found, class_id in zip(truth.boxes, result.gt_tp, truth.classes, strict=True):
            if not found:
                tags.add((box[0], box[3]), f"FN {names.get(int(class_id), class_id)}", FN, above=False)
    return canvas


_LEGEND = (
    ("solid", TP, "TP: a right box"),
    ("solid", FP, "FP: wrong or extra"),
    ("dashed", FN, "FN: missed object"),
    ("dashed", TRUTH, "ground truth"),
    ("hatch", OVERLAP, "intersection"),
    ("solid", PREDICTED, "box (no truth)"),
)


@functools.cache
def legend(columns: int = 3) -> Image.Image:
    """A key to the line styles and colours used on every picture, ``columns`` entries a row."""
    font, cell, row = _font(22), 270, 44
    canvas = Image.new("RGB", (cell * columns, row * -(-len(_LEGEND) // columns) + 8), "#3a3a3a")
    draw = ImageDraw.Draw(canvas)
    for i, (kind, colour, label) in enumerate(_LEGEND):
        x, y = 12 + cell * (i % columns), 12 + row * (i // columns)
        box = (x, y, x + 34, y + 24)
        if kind == "solid":
            draw.rectangle(box, outline=colour, width=4)
        elif kind == "dashed":
            _dashed_rectangle(canvas, box, colour, 3)
        else:
            _hatch(draw, box, colour, 8, 2)
        draw.text((x + 46, y), label, fill="white", font=font)
    return canvas


def iou_picture(
    a: Sequence[float], b: Sequence[float], parts: IoUParts, size: int = 100, pixels: int = 480
) -> Image.Image:
    """The IoU explainer: A (a prediction, solid) and B (the truth, dashed) on a ``size`` x ``size`` grid.

    The union is grey and the intersection hatched yellow, as on the detection pictures.
    """
    k = pixels / size
    canvas = Image.new("RGB", (pixels + 1, pixels + 1), "#3a3a3a")
    draw = ImageDraw.Draw(canvas)
    for v in range(0, size + 1, 10):
        draw.line((v * k, 0, v * k, pixels), fill="#555555")
        draw.line((0, v * k, pixels, v * k), fill="#555555")
    box_a, box_b = [v * k for v in a], [v * k for v in b]
    for box in (box_a, box_b):
        draw.rectangle(box, fill="#8a8a8a")
    if parts.intersection is not None:
        _hatch(draw, [v * k for v in parts.intersection], OVERLAP, 12, 4)
    draw.rectangle(box_a, outline=PREDICTED, width=4)
    _dashed_rectangle(canvas, box_b, TRUTH, 4)
    tags = _Tags(canvas, 22)
    tags.add((box_a[0], box_a[1]), "A", PREDICTED, above=False)
    tags.add((box_b[2] - 24, box_b[3]), "B", TRUTH)
    return canvas


def iou_arithmetic(parts: IoUParts) -> list[str]:
    """The explainer's sums, one Markdown line each."""
    inter = parts.intersection
    overlap = (
        f"{inter[2] - inter[0]:g} × {inter[3] - inter[1]:g} = **{parts.inter_area:g}**"
        if inter
        else "**0** (the boxes do not overlap)"
    )
    return [
        f"Area of A = {parts.area_a:g}, area of B = {parts.area_b:g}",
        f"Intersection = {overlap}",
        f"Union = A + B − intersection = {parts.area_a:g} + {parts.area_b:g} − {parts.inter_area:g}"
        f" = **{parts.union:g}**",
        f"IoU = intersection / union = {parts.inter_area:g} / {parts.union:g} = **{parts.iou:.3f}**",
    ]


def pr_figure(curves: Sequence[PRCurve], iou: float) -> go.Figure:
    """Interpolated precision against recall per class, with a marker at the confidence threshold.

    Built from plain dicts (:func:`core.viz.theme.light_figure`): a third of the time of traces
    checked one by one, with the same projector fonts (tests validate the result).
    """
    data: list[dict] = []
    for i, curve in enumerate(curves):
        colour, name = CLASS_COLOURS[i % len(CLASS_COLOURS)], safe_text.plotly(curve.name)
        data.append(
            {"type": "scatter", "x": curve.recall, "y": curve.precision, "mode": "lines",
             "line": {"color": colour, "width": 3, "shape": "hv"}, "name": f"{name} (AP{iou * 100:.0f} {curve.ap:.2f})",
             "legendgroup": curve.name}
        )  # fmt: skip
        recall, precision = curve.point
        if precision is not None:
            data.append(
                {"type": "scatter", "x": [recall], "y": [precision], "mode": "markers",
                 "marker": {"color": colour, "size": 14, "line": {"color": "black", "width": 2}},
                 "name": f"{name} at the threshold", "legendgroup": curve.name, "showlegend": False,
                 "hovertemplate": "recall %{x:.2f}<br>precision %{y:.2f}<extra>at the threshold</extra>"}
            )  # fmt: skip
    layout = {
        "xaxis": {"title": {"text": "recall"}, "range": [0, 1.02]},
        "yaxis": {"title": {"text": "precision"}, "range": [0, 1.05]},
        "margin": {"t": 10, "l": 10, "r": 10, "b": 10},
        # Below the plot: inside it the legend covered the curves' low-recall ends.
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0.0},
    }
    return light_figure(data, layout, height=460)


def confusion_figure(matrix: ConfusionMatrix) -> go.Figure:
    """Counts of true class (rows) against predicted class (columns), background last."""
    counts = matrix.counts.astype(float)
    counts[-1, -1] = np.nan  # background against background is not counted
    labels = safe_text.plotly_all(matrix.labels)
    heatmap = {
        "type": "heatmap", "z": counts, "x": labels, "y": labels, "colorscale": "Blues", "showscale": False,
        "texttemplate": "%{z}", "hovertemplate": "true %{y}<br>predicted %{x}<br>%{z} boxes<extra></extra>",
    }  # fmt: skip
    layout = {
        "xaxis": {"title": {"text": "predicted"}, "side": "top"},
        "yaxis": {"title": {"text": "true"}, "autorange": "reversed"},
        "margin": {"t": 10, "l": 10, "r": 10, "b": 10},
    }
    return light_figure([heatmap], layout, height=120 + 48 * len(matrix.labels))
