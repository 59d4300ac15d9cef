"""Pictures from arrays (colormaps, overlays, PNG), slide-ready exports, and the one Plotly look."""

from core.viz.export import MIN_WIDTH, UNTRAINED, Legend, legend_bar, slide, slide_png, stamp_untrained, untrained_csv
from core.viz.render import COLORMAPS, apply_colormap, normalize, overlay, tile, to_png, upscale_nearest
from core.viz.theme import FONT, styled
from core.viz.worksheet import Entry, worksheet_html

__all__ = [
    "COLORMAPS",
    "FONT",
    "MIN_WIDTH",
    "UNTRAINED",
    "Entry",
    "Legend",
    "apply_colormap",
    "legend_bar",
    "normalize",
    "overlay",
    "slide",
    "slide_png",
    "stamp_untrained",
    "styled",
    "tile",
    "to_png",
    "untrained_csv",
    "upscale_nearest",
    "worksheet_html",
]
