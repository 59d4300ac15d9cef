"""Pictures from arrays (colormaps, overlays, PNG) and the one Plotly look every chart shares."""

from core.viz.render import COLORMAPS, apply_colormap, normalize, overlay, tile, to_png, upscale_nearest
from core.viz.theme import FONT, styled

__all__ = ["COLORMAPS", "FONT", "apply_colormap", "normalize", "overlay", "styled", "tile", "to_png", "upscale_nearest"]
