"""Each convolution's feature map as the next layer sees it, recorded during a forward pass.

A convolution's map is taken after the normalisation and activation that directly follow it
(``Conv2d -> BatchNorm2d -> ReLU``), as lectures draw it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Callable, Collection, Iterator

import numpy as np
import torch
from torch import nn

from core.util.hooks import conv_layers

# Shape-preserving, per-position modules that usually follow a convolution.
FOLLOWERS = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.ReLU,
    nn.Hardtanh,  # ReLU6 is one
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.Tanh,
)


_FLOAT16_EXPONENT = np.uint16(0x7C00)  # all exponent bits set: inf or NaN


def to_cpu(tensor: torch.Tensor) -> torch.Tensor:
    """A CPU copy in float16 (half the memory), or float32 when values do not fit in float16.

    The check reads the float16 bits through NumPy: ``torch.isfinite`` on a CPU float16 tensor
    is about 20x slower (1.5 ms against 0.08 ms on a 256 x 56 x 56 map), which made capturing
    every map of ResNet-50 cost 1.42x a plain forward instead of 1.10x (``bench.features``).
    """
    half = tensor.detach().to("cpu", torch.float16, copy=True)
    if ((half.numpy().view(np.uint16) & _FLOAT16_EXPONENT) == _FLOAT16_EXPONENT).any():  # too large, or NaN
        return tensor.detach().to("cpu", torch.float32, copy=True)
    return half


class _Chains:
    """Follows each convolution's output through the :data:`FOLLOWERS` chained directly to it."""

    def __init__(self, store: Callable[[torch.Tensor], object]) -> None:
        self.recorded: dict[str, tuple[object, tuple[str, ...]]] = {}
        self.store = store
        self.owner = threading.get_ident()
        self.chains: dict[int, tuple[str, weakref.ref, tuple[str, ...]]] = {}  # id(tensor) -> (conv, tensor, after)
        self.pending: dict[str, tuple[torch.Tensor, tuple[str, ...]]] = {}  # latest map of each chain, not copied yet

    def extend(self, name: str, output: torch.Tensor, after: tuple[str, ...]) -> None:
        self.chains[id(output)] = (name, weakref.ref(output), after)
        self.pending[name] = (output, after)

    def flush(self, keep: torch.Tensor | None = None) -> None:
        for name, (tensor, after) in list(self.pending.items()):
            if tensor is not keep:
                self.recorded[name] = (self.store(tensor), after)
                del self.pending[name]

    def before(self, sub: nn.Module, inputs) -> None:
        if threading.get_ident() == self.owner:  # a follower about to extend a chain needs no copy of it
            source = inputs[0] if inputs and isinstance(sub, FOLLOWERS) else None
            self.flush(keep=source if isinstance(source, torch.Tensor) else None)

    def on_conv(self, name: str, _conv: nn.Module, _inputs, output) -> None:
        if isinstance(output, torch.Tensor) and threading.get_ident() == self.owner:
            self.extend(name, output, ())

    def on_follower(self, follower: nn.Module, inputs, output) -> None:
        source = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        if source is None or threading.get_ident() != self.owner:
            return
        entry = self.chains.pop(id(source), None)
        if entry is None or entry[1]() is not source:
            return
        name, _, after = entry
        if isinstance(output, torch.Tensor) and output.shape == source.shape:
            self.extend(name, output, (*after, type(follower).__name__))


@contextlib.contextmanager
def record_conv_maps(
    module: nn.Module, store: Callable[[torch.Tensor], object] | None = None, only: Collection[str] | None = None
) -> Iterator[dict[str, tuple[object, tuple[str, ...]]]]:
    """Record each convolution's output after the :data:`FOLLOWERS` chained directly to it.

    Yields a dict, filled while forward passes run inside the block, from conv name to
    ``store(map)`` (default: a CPU copy, :func:`to_cpu`) and the names of the modules applied
    after the convolution; ``store`` may reduce the map instead (per-channel maxima), and
    ``only`` limits the record to the convolutions of those names. A
    map is copied when the next module starts (or when the block ends), so in-place operations
    after it (``out += identity``) do not change it. Forward passes of other threads (another
    session using the same cached model) are ignored. Hooks are removed on exit, whatever
    happens; hold ``LoadedModel.lock`` when ``module`` is a shared cached model.
    """
    chains = _Chains(store or to_cpu)
    handles = []
    try:
        for sub in module.modules():
            if not list(sub.children()):
                handles.append(sub.register_forward_pre_hook(chains.before))
            if isinstance(sub, FOLLOWERS) and not list(sub.children()):
                handles.append(sub.register_forward_hook(chains.on_follower))
        for name, conv in conv_layers(module):
            if only is not None and name not in only:
                continue
            handles.append(conv.register_forward_hook(functools.partial(chains.on_conv, name)))
        yield chains.recorded
        chains.flush()
    finally:
        for handle in handles:
            handle.remove()
