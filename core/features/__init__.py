"""What a CNN computes: captured feature maps and kernels, receptive fields, conv arithmetic, and their pictures."""

from core.features.capture import Activations, ConvMaps, Kernels, conv_kernels, get_activations, input_sizes
from core.features.conv_arithmetic import POOLS, ConvSettings, solve, worked_example
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

__all__ = [
    "KERNEL_VIEWS",
    "POOLS",
    "Activations",
    "ConvMaps",
    "ConvSettings",
    "Kernels",
    "channel_on_image",
    "channel_stats_figure",
    "conv_kernels",
    "depth_strip",
    "feature_grid",
    "get_activations",
    "input_sizes",
    "kernel_grid",
    "kernel_heatmap",
    "map_picture",
    "solve",
    "worked_example",
    "worked_example_figure",
]
