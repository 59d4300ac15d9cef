"""Pictures of a YOLO detector's inside: grids, faint candidates, NMS steps and CAM overlays (PIL, NumPy).

All but the CAM are drawn on the letterboxed input the model saw, in its pixels. Thousands of
candidates are drawn as a density of outlines, so the picture stays visible on a projector.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.detection.box_cams import BoxCam
from core.detection.candidates import NmsRun, RawOutput
from core.viz.render import apply_colormap, upscale_nearest

KEPT, CURRENT, REMOVED, WAITING, CANDIDATE = "#00e676", "#ffea00", "#ff1744", "#40c4ff", "#40c4ff"
FONT_SIZE = 30
FEW = 300  # up to this many candidates are drawn one by one


@functools.cache
def _font(size: int = FONT_SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour: str) -> None:
    """Dark-backed text at ``xy`` (its top left), kept inside the picture."""
    font = _font()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    width, height = draw.im.size
    x = min(max(xy[0], 0), width - (right - left) - 4)
    y = min(max(xy[1], 0), height - (bottom - top) - 6)
    draw.rectangle((x, y, x + right - left + 4, y + bottom - top + 6), fill=(0, 0, 0))
    draw.text((x + 2 - left, y + 3 - top), text, fill=colour, font=font)


def grid_base(raw: RawOutput, level: int, heat: np.ndarray) -> Image.Image:
    """One grid over the input: each cell tinted by its best class score, and the cell lines.

    It does not depend on the thresholds: pages draw it once per image and add the boxes with
    :func:`grid_picture`.
    """
    grid = raw.levels[level]
    picture = heat_blend(raw.letterboxed, upscale_nearest(np.clip(heat, 0, 1), grid.stride), "inferno")
    draw = ImageDraw.Draw(picture, "RGBA")  # RGBA colours blend into the RGB picture
    side = picture.size[0]
    for k in range(grid.cols + 1):
        draw.line((k * grid.stride, 0, k * grid.stride, side), fill=(255, 255, 255, 70), width=1)
    for k in range(grid.rows + 1):
        draw.line((0, k * grid.stride, side, k * grid.stride), fill=(255, 255, 255, 70), width=1)
    _label(draw, (6, 6), f"stride {grid.stride}: {grid.rows} x {grid.cols} cells", "#ffffff")
    return picture


def grid_picture(raw: RawOutput, level: int, base: Image.Image, kept: np.ndarray) -> Image.Image:
    """:func:`grid_base`'s picture with the final boxes that this grid predicted, in green."""
    picture = base.copy()
    draw = ImageDraw.Draw(picture)
    for index in kept[raw.level_of(kept) == level] if len(kept) else []:
        draw.rectangle(tuple(raw.boxes[index].tolist()), outline=KEPT, width=4)
    return picture


def heat_blend(image: Image.Image, heat01: np.ndarray, cmap: str, strength: float = 0.75) -> Image.Image:
    """A heatmap the size of ``image`` blended in where it is high: low values leave the picture as it is."""
    colour = apply_colormap(heat01, cmap).astype(np.float32)
    alpha = (np.asarray(heat01, dtype=np.float32) * strength)[..., None]
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    return Image.fromarray((base + (colour - base) * alpha).round().astype(np.uint8))


def outline_density(boxes: np.ndarray, size: int) -> np.ndarray:
    """How many box outlines pass through each pixel of a ``size`` x ``size`` picture."""
    b = np.clip(np.round(boxes).astype(np.int64), 0, size - 1)
    x1, y1, x2, y2 = b.T
    rows = np.zeros((size, size + 1), dtype=np.float32)  # horizontal edges: +1 at x1, -1 after x2, summed along
    cols = np.zeros((size + 1, size), dtype=np.float32)
    for y in (y1, y2):
        np.add.at(rows, (y, x1), 1)
        np.add.at(rows, (y, x2 + 1), -1)
    for x in (x1, x2):
        np.add.at(cols, (y1, x), 1)
        np.add.at(cols, (y2 + 1, x), -1)
    return rows.cumsum(axis=1)[:, :size] + cols.cumsum(axis=0)[:size]


def candidates_picture(raw: RawOutput, indices: np.ndarray, opacity: float = 0.35) -> Image.Image:
    """The outlines of the candidates ``indices``, faint: one by one when few, else as a blue density
    (denser where more boxes pile up), so that thousands of boxes never hide the picture."""
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) <= FEW:
        picture = raw.letterboxed.copy()
        draw = ImageDraw.Draw(picture, "RGBA")  # RGBA colours blend into the RGB picture
        for box in raw.boxes[indices].tolist():
            draw.rectangle(tuple(box), outline=(*_rgb(CANDIDATE), round(255 * opacity)), width=2)
        return picture
    size = raw.letterboxed.size[0]
    density = outline_density(raw.boxes[indices], size)
    busy = float(np.percentile(density[density > 0], 99)) if density.any() else 1.0  # not the clipped edges
    alpha = np.minimum(density * np.float32(opacity / max(busy, 1.0)), opacity)
    return _tint(raw.letterboxed, alpha)


def _tint(image: Image.Image, alpha: np.ndarray) -> Image.Image:
    """``image`` blended towards the candidate colour by ``alpha`` in [0, 1] per pixel (only where it is > 0)."""
    pixels = np.array(image)
    rows, cols = np.nonzero(alpha)
    base = pixels[rows, cols].astype(np.float32)
    weight = alpha[rows, cols, None]
    pixels[rows, cols] = (base + (np.array(_rgb(CANDIDATE), dtype=np.float32) - base) * weight).astype(np.uint8)
    return Image.fromarray(pixels)


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[k : k + 2], 16) for k in (1, 3, 5))  # type: ignore[return-value]


def nms_picture(raw: RawOutput, run: NmsRun, step: int, names: Mapping[int, str]) -> Image.Image:
    """After ``step`` steps: boxes still waiting (faint), boxes kept (green), this step's kept box (yellow)
    and the boxes it removed (red, with their IoU)."""
    picture = candidates_picture(raw, run.remaining(step), opacity=0.6)
    draw = ImageDraw.Draw(picture)
    for index in run.kept[: max(step - 1, 0)]:
        draw.rectangle(tuple(raw.boxes[index].tolist()), outline=KEPT, width=3)
    if step == 0:
        return picture
    current = run.steps[step - 1]
    for index in current.removed:
        draw.rectangle(tuple(raw.boxes[index].tolist()), outline=REMOVED, width=2)
    for index, iou in list(zip(current.removed, current.ious, strict=True))[:3]:  # a few IoUs stay readable
        box = raw.boxes[index].tolist()
        _label(draw, (box[0], box[3] + 2), f"IoU {iou:.2f}", REMOVED)
    box = raw.boxes[current.kept].tolist()
    draw.rectangle(tuple(box), outline=CURRENT, width=5)
    class_id = int(raw.best_class[current.kept])
    name = names.get(class_id, str(class_id))
    _label(draw, (box[0], box[1] - 32), f"{name} {raw.best[current.kept]:.2f}", CURRENT)
    return picture


def cam_picture(image: Image.Image, cam: BoxCam, box: np.ndarray) -> Image.Image:
    """The CAM over the original image, with the explained box and a cross at the map's peak."""
    picture = heat_blend(image, np.sqrt(cam.heat), "jet", strength=0.7)  # sqrt: the map's tails stay visible
    draw = ImageDraw.Draw(picture)
    width = max(2, round(max(image.size) / 250))
    draw.rectangle(tuple(np.asarray(box, dtype=float).tolist()), outline="#ffffff", width=width)
    x, y = cam.peak
    arm = max(8, round(max(image.size) / 40))
    draw.line((x - arm, y, x + arm, y), fill="#ffffff", width=width)
    draw.line((x, y - arm, x, y + arm), fill="#ffffff", width=width)
    return picture
