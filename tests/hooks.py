"""Test helpers about hooks: how many are on a module (production code never needs to count them)."""

from __future__ import annotations

from torch import nn


def hook_count(module: nn.Module) -> int:
    """Forward, pre-forward and backward hooks currently on ``module`` and its children."""
    total = 0
    for sub in module.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            total += len(getattr(sub, attr, {}))
    return total
