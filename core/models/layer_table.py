"""The layer table of a zoo model: every leaf layer, its type, output shape and parameters.

Computed on the ``meta`` device (shapes only, no memory, no weights), so it is instant even
for VGG-16 and needs nothing downloaded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from torch import nn

from core.models.registry import meta_model, model_card
from core.util.hooks import meta_trace


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    detail: str


def _detail(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        groups = f", groups={module.groups}" if module.groups > 1 else ""
        padding = module.padding[0] if isinstance(module.padding, tuple) else module.padding
        kernel = "x".join(map(str, module.kernel_size))
        return f"{module.in_channels}->{module.out_channels}, k={kernel}, s={module.stride[0]}, p={padding}{groups}"
    if isinstance(module, nn.Linear):
        return f"{module.in_features}->{module.out_features}"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return f"k={module.kernel_size}, s={module.stride}"
    return ""


@functools.cache
def layer_table(key: str, size: int | None = None) -> tuple[LayerRow, ...]:
    """Leaf layers of ``key`` in forward order, with their output shape for one image.

    Args:
        key: zoo key.
        size: input side in pixels (default: the model's crop size).
    """
    size = size or model_card(key).crop_size
    rows: dict[str, LayerRow] = {}
    for name, module, output in meta_trace(meta_model(key), size):
        if name not in rows and not list(module.children()):  # leaf layers, first call only
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows[name] = LayerRow(name, type(module).__name__, tuple(output.shape[1:]), params, _detail(module))
    return tuple(rows.values())
