"""One colour scale for several maps, or each on its own: what the top-3 view draws and what it says.

Grad-CAM maps are scaled each to its own maximum, which shows *where* each class's evidence is
but hides *how strong* it is: a faint map looks as hot as a strong one. On a shared scale the
maps of the top-3 classes are divided by one number, the largest value of the three, so a class
with little evidence looks faint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.explain.gradcam import LayerMaps, bilinear


@dataclass(frozen=True)
class ScaledMaps:
    """One layer's maps ready to draw, what the ends of their colour bar mean, and a sentence saying which scale."""

    maps: np.ndarray  # (N, H, W) float32 in [0, 1], at the input's resolution
    coarse: np.ndarray  # (N, h, w) float32 in [0, 1], at the layer's resolution
    shared: bool
    ends: tuple[str, str]  # the colour bar's low and high ends, in words (burnt into exported pictures)
    note: str


def shared_scale(values: np.ndarray) -> np.ndarray:
    """``values`` (N, ...) >= 0 divided by their one common maximum (all zeros when there is no evidence)."""
    values = np.asarray(values, dtype=np.float32)
    peak = float(values.max()) if values.size else 0.0
    return values / peak if peak > 0 else np.zeros_like(values)


def scale_maps(layer: LayerMaps, shared: bool) -> ScaledMaps:
    """``layer``'s maps on one colour scale (``shared``) or each on its own, with the legend and note to show."""
    count = len(layer.maps)
    if not shared:
        note = "Each map is scaled to its own maximum: compare where they look, not how strongly."
        ends = ("no evidence", "this map's strongest (own scale)")
        return ScaledMaps(layer.maps, layer.coarse, False, ends, note)
    coarse = shared_scale(layer.values)
    peak = float(np.max(layer.values)) if layer.values.size else 0.0
    full = bilinear(layer.values, layer.maps.shape[-2:]) / peak if peak > 0 else np.zeros_like(layer.maps)
    note = (
        f"The {count} maps share one colour scale, topped by the strongest value of all {count}: "
        "compare where they look and how strongly."
    )
    ends = ("no evidence", f"strongest of the {count} maps (one scale)")
    return ScaledMaps(np.clip(full, 0.0, 1.0).astype(np.float32), coarse, True, ends, note)
