"""The convolution, live: every number behind one unit of a real layer, equal to the model's own.

:func:`get_trace` runs the model once on an image with hooks on one convolution (cached per
model, weights, image, size and layer), keeping what the convolution received and what each
module that directly follows it (BatchNorm, ReLU, ReLU6, SiLU..., then a pooling) produced.
:func:`core.features.live_cell.explain_cell` then writes out one output unit from those arrays alone, no model run:
the kernel, the input patch under it, the per-input-channel contributions, the bias, and each
following step with its formula, beside the value the model itself computed at that unit.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.config import limits
from core.config.device import inference
from core.features.capture import CaptureCache, image_digest, model_input
from core.features.conv_maps import FOLLOWERS
from core.models.loading import LoadedModel
from core.util.hooks import conv_layers

POOLS = (nn.MaxPool2d, nn.AvgPool2d)
# Followers whose value at one unit depends on that unit alone (GroupNorm and LayerNorm do not).
_PER_UNIT = tuple(f for f in FOLLOWERS if f not in (nn.GroupNorm, nn.LayerNorm))


@dataclass(frozen=True, eq=False)
class Step:
    """A module applied after the convolution: its name, type and output ``(C, H, W)``.

    ``module`` is a private copy (BatchNorm statistics, ReLU6 bounds), used to write out one unit.
    """

    name: str
    type: str
    output: np.ndarray
    module: nn.Module = field(repr=False)


@dataclass(frozen=True, eq=False)
class LayerTrace:
    """One convolution on one image: its input ``(C_in, H, W)``, weights, output and the steps after it.

    ``stopped`` says why the chain of steps ends early (an in-place residual addition, a
    normalisation over several units), or is empty.
    """

    name: str
    inputs: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    output: np.ndarray
    steps: tuple[Step, ...]
    pool: Step | None
    stopped: str

    @property
    def nbytes(self) -> int:
        arrays = [self.inputs, self.output, *(s.output for s in self.steps)]
        return sum(a.nbytes for a in arrays) + (self.pool.output.nbytes if self.pool else 0)

    @property
    def kernel(self) -> tuple[int, int]:
        return tuple(self.weight.shape[-2:])


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    array = tensor.detach()[0].to("cpu", torch.float32, copy=True).numpy()
    array.flags.writeable = False
    return array


def _bare_copy(module: nn.Module) -> nn.Module:
    """A private copy of a (leaf) module without the hooks the original carries now."""
    twin = copy.deepcopy(module)
    for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
        getattr(twin, attr).clear()
    return twin


def _conv_padding(conv: nn.Conv2d) -> tuple[int, int]:
    if conv.padding_mode != "zeros":
        raise ValueError(f"convolutions with padding_mode={conv.padding_mode!r} are not shown live; pick another.")
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        return tuple(d * (k - 1) // 2 for d, k in zip(conv.dilation, conv.kernel_size, strict=True))
    return tuple(conv.padding)


@contextlib.contextmanager
def trace_layer(module: nn.Module, name: str) -> Iterator[dict]:
    """Record the input of convolution ``name``, its output, the per-unit steps and pooling after it.

    Yields a dict filled by the forward pass run inside the block (this thread's only). A step
    counts when its input is the tensor the chain ended with, unchanged (an in-place ``+=`` of a
    shortcut ends the chain). Hooks are removed on exit, whatever happens; hold
    ``LoadedModel.lock`` when ``module`` is a shared cached model.
    """
    convs = dict(conv_layers(module))
    if name not in convs:
        raise ValueError(f"layer {name!r} is not a Conv2d of {type(module).__name__}; choose one of its convolutions.")
    owner, names = threading.get_ident(), {sub: n for n, sub in module.named_modules()}
    record: dict = {"steps": [], "pool": None, "stopped": "", "open": False, "next": None}

    def mine() -> bool:
        return threading.get_ident() == owner

    def on_input(_conv, inputs) -> None:
        if mine() and "inputs" not in record:
            record["inputs"] = _numpy(inputs[0])

    def on_output(_conv, _inputs, output) -> None:
        if mine() and "output" not in record:
            record.update(output=_numpy(output), last=output, seen=output.detach().clone(), open=True)

    def before(sub: nn.Module, inputs) -> None:
        if not (mine() and record["open"] and inputs and inputs[0] is record["last"]):
            return
        record["open"] = False  # unless this module is the next step of the chain
        if not isinstance(sub, (*FOLLOWERS, *POOLS)):
            return  # another layer consumes the map: the chain ends here
        if not torch.equal(inputs[0], record["seen"]):
            record["stopped"] = f"a shortcut was added to the map (in place) before {type(sub).__name__}"
        elif not isinstance(sub, (*_PER_UNIT, *POOLS)):
            record["stopped"] = f"{type(sub).__name__} normalises over several units"
        else:
            record["next"] = sub

    def after(sub: nn.Module, _inputs, output) -> None:
        if not mine() or record["next"] is not sub:
            return
        record["next"] = None
        step = Step(names[sub], type(sub).__name__, _numpy(output), _bare_copy(sub))
        if isinstance(sub, POOLS):
            record["pool"] = step
        else:
            record["steps"].append(step)
            record.update(last=output, seen=output.detach().clone(), open=True)

    handles: list = []
    try:
        _register(module, convs[name], handles, (on_input, on_output), (before, after))
        yield record
    finally:
        for handle in handles:
            handle.remove()
        for key in ("last", "seen", "next"):
            record.pop(key, None)


def _register(module: nn.Module, conv: nn.Module, handles: list, at_conv: tuple, at_leaves: tuple) -> None:
    """Hook ``conv`` (its input, its output) and every other leaf (before; after, for followers and pools).

    Each handle is appended to ``handles`` as soon as it exists, so the caller removes all of them.
    """
    on_input, on_output = at_conv
    before, after = at_leaves
    handles.append(conv.register_forward_pre_hook(on_input))
    handles.append(conv.register_forward_hook(on_output))
    for sub in module.modules():
        if sub is not conv and not list(sub.children()):
            handles.append(sub.register_forward_pre_hook(before))
            if isinstance(sub, (*FOLLOWERS, *POOLS)):
                handles.append(sub.register_forward_hook(after))


def as_pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[-1]))


def trace(model: LoadedModel, image: Image.Image, name: str, size: int | None = None) -> LayerTrace:
    """Run ``model`` once on ``image`` with :func:`trace_layer` on ``name`` (uncached).

    Raises:
        ValueError: ``name`` is not a convolution of the model, or the model cannot run at ``size``.
    """
    batch, _ = model_input(model, image, size)
    convs = dict(conv_layers(model.module))
    if name not in convs:
        raise ValueError(f"layer {name!r} is not a Conv2d of {model.card.label}; choose one of its convolutions.")
    conv = convs[name]
    padding = _conv_padding(conv)
    with model.lock, trace_layer(model.module, name) as record, inference(model.device):
        model.module(batch)
    if "output" not in record:
        raise ValueError(f"layer {name!r} did not run on this input.")
    weight = conv.weight.detach().to("cpu", torch.float32, copy=True).numpy()
    bias = None if conv.bias is None else conv.bias.detach().to("cpu", torch.float32, copy=True).numpy()
    settings = (as_pair(conv.stride), as_pair(padding), as_pair(conv.dilation), conv.groups)
    return LayerTrace(
        name, record["inputs"], weight, bias, *settings,
        record["output"], tuple(record["steps"]), record["pool"], record["stopped"],
    )  # fmt: skip


TRACES = CaptureCache(limits.ACTIVATION_CACHE_ENTRIES, limits.ACTIVATION_CACHE_BYTES // 4)


def get_trace(model: LoadedModel, image: Image.Image, name: str, size: int | None = None) -> LayerTrace:
    """:func:`trace`, cached per (model, weights, image, size, layer); moving to another unit never re-runs it."""
    key = (model.key, model.trained, model.source, id(model.module), str(model.device), image_digest(image), size, name)
    return TRACES.get(key, lambda: trace(model, image, name, size))
