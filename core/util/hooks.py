"""Hooks without leaks: capture layer outputs, resolve layer names, restore model state.

Everything that adds hooks is a context manager that removes them in ``finally``, after
success and after an exception (the torch-cam pattern). Cached models are shared between
browser sessions: hold ``LoadedModel.lock`` around any use of these on a shared module.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Sequence

import torch
from torch import nn


def conv_layers(module: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every ``nn.Conv2d`` of ``module`` with its qualified name, in registration order.

    torchvision registers layers in the order they run, so this is forward order for the zoo.
    """
    return [(name, m) for name, m in module.named_modules() if isinstance(m, nn.Conv2d)]


def resolve_layer(module: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """Return ``(name, submodule)`` for a layer given by qualified name or as a module.

    Raises:
        ValueError: the name (or module) is not part of ``module``; the message names it and
            suggests the closest names.
    """
    named = dict(module.named_modules())
    if isinstance(layer, nn.Module):
        for name, candidate in named.items():
            if candidate is layer:
                return name, candidate
        raise ValueError(f"layer {type(layer).__name__} is not a submodule of {type(module).__name__}.")
    if layer in named and layer != "":
        return layer, named[layer]
    close = difflib.get_close_matches(str(layer), [n for n in named if n], n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"layer {layer!r} is not in {type(module).__name__}.{hint}")


@contextlib.contextmanager
def capture_outputs(module: nn.Module, layers: Sequence[str | nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """Record the output of each layer during forward passes run inside the block.

    Yields a dict, filled as the model runs, from layer name to its (last) output tensor.
    Hooks are removed on exit, whatever happens inside.
    """
    resolved = [resolve_layer(module, layer) for layer in layers]
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name, sub in resolved:

            def hook(_module: nn.Module, _inputs, output, name: str = name) -> None:
                if isinstance(output, torch.Tensor):
                    outputs[name] = output

            handles.append(sub.register_forward_hook(hook))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def meta_trace(module: nn.Module, size: int) -> list[tuple[str, nn.Module, torch.Tensor]]:
    """``(name, submodule, output)`` for every named submodule as it finishes, in forward order.

    ``module`` must live on the ``meta`` device: one forward of a ``(1, 3, size, size)`` input
    gives every shape with no memory and no weights. Hooks are removed whatever happens.
    """
    names = {sub: name for name, sub in module.named_modules() if name}
    records: list[tuple[str, nn.Module, torch.Tensor]] = []

    def record(sub: nn.Module, _inputs, output) -> None:
        if isinstance(output, torch.Tensor):
            records.append((names[sub], sub, output))

    handles = [sub.register_forward_hook(record) for sub in names]
    try:
        with torch.no_grad():
            module(torch.empty(1, 3, size, size, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return records


def hook_count(module: nn.Module) -> int:
    """Forward, pre-forward and backward hooks currently on ``module`` and its children (tests use it)."""
    total = 0
    for sub in module.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            total += len(getattr(sub, attr, {}))
    return total


@contextlib.contextmanager
def preserved_state(module: nn.Module) -> Iterator[nn.Module]:
    """Restore every submodule's ``training`` flag and every parameter's ``requires_grad`` and ``.grad``."""
    training = {sub: sub.training for sub in module.modules()}
    params = [(p, p.requires_grad, p.grad) for p in module.parameters()]
    try:
        yield module
    finally:
        for sub, flag in training.items():
            sub.training = flag
        for param, requires_grad, grad in params:
            param.requires_grad_(requires_grad)
            param.grad = grad
