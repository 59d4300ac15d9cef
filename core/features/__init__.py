"""What a CNN computes: captured feature maps and kernels, receptive fields, conv arithmetic, one unit computed
live, and their pictures; what units learned: their strongest dataset patches and the images they want."""

from core.features.capture import Activations, ConvMaps, Kernels, conv_kernels, get_activations, input_sizes
from core.features.conv_arithmetic import POOLS, ConvSettings, solve, worked_example
from core.features.dataset_examples import dataset_maxima, find_cached_maxima
from core.features.example_patches import Example, channel_examples, examples_grid
from core.features.feature_vis import FeatureVis, find_cached_vis, objective_figure, to_picture, visualise
from core.features.live_cell import LiveCell, PoolCell, Sweep, explain_cell, sweep
from core.features.live_conv import LayerTrace, get_trace
from core.features.live_pick import picked_unit, unit_map_figure
from core.features.live_pictures import (
    contributions_figure,
    field_on_image,
    map_with_unit,
    patch_figure,
    pool_figure,
    sweep_figure,
)
from core.features.pictures import (
    KERNEL_VIEWS,
    channel_on_image,
    channel_stats_figure,
    depth_strip,
    feature_grid,
    kernel_grid,
    kernel_heatmap,
    map_picture,
    worked_example_figure,
)
from core.features.unit_location import channel_csv
from core.features.unit_maxima import UnitMaxima

__all__ = [
    "KERNEL_VIEWS",
    "POOLS",
    "Activations",
    "ConvMaps",
    "ConvSettings",
    "Example",
    "FeatureVis",
    "Kernels",
    "LayerTrace",
    "LiveCell",
    "PoolCell",
    "Sweep",
    "UnitMaxima",
    "channel_csv",
    "channel_examples",
    "channel_on_image",
    "channel_stats_figure",
    "contributions_figure",
    "conv_kernels",
    "dataset_maxima",
    "depth_strip",
    "examples_grid",
    "explain_cell",
    "feature_grid",
    "field_on_image",
    "find_cached_maxima",
    "find_cached_vis",
    "get_activations",
    "get_trace",
    "input_sizes",
    "kernel_grid",
    "kernel_heatmap",
    "map_picture",
    "map_with_unit",
    "objective_figure",
    "patch_figure",
    "picked_unit",
    "pool_figure",
    "solve",
    "sweep",
    "sweep_figure",
    "to_picture",
    "unit_map_figure",
    "visualise",
    "worked_example",
    "worked_example_figure",
]
