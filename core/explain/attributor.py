"""The shape every attribution method has, in the Captum and torch-cam style.

An :class:`Attributor` is bound to a model and a layer when it is made; ``.attribute(inputs,
target=...)`` gives a map per input, ``.cost(size)`` says what that costs before it runs, and a
``with`` block holds whatever hooks the method needs and removes them in ``__exit__``, after
success and after an exception. Used without ``with``, ``.attribute`` adds and removes its hooks
itself, so a one-off call leaves the model as it found it.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

import numpy as np
import torch
from torch import nn

from core.util.hooks import preserved_state, resolve_layer

if TYPE_CHECKING:
    from core.explain.timing import PassTimes


@dataclass(frozen=True)
class Cost:
    """What a method costs for one image: images pushed through the model, and in how many calls."""

    forwards: int
    backwards: int
    calls: int

    def describe(self) -> str:
        """E.g. ``1 forward + 1 backward pass`` or ``170 forward passes in 12 batches``."""
        passes = f"{self.forwards} forward" + (f" + {self.backwards} backward" if self.backwards else "")
        plural = "es" if max(self.forwards, self.backwards) > 1 else ""
        batches = f" in {self.calls} batches" if self.calls < max(self.forwards, self.backwards) else ""
        return f"{passes} pass{plural}{batches}"

    def estimate(self, times: PassTimes) -> float:
        """Seconds, from warm measured passes (:func:`core.explain.timing.measure_passes`)."""
        return times.seconds(self.forwards, self.backwards, self.calls)

    def seconds(self, forward_ms: float) -> float:
        """A rough estimate from the time of one forward pass (a backward pass costs about two)."""
        return forward_ms / 1000 * (self.forwards + 2 * self.backwards)


class Attributor:
    """An attribution method bound to ``module`` and ``layer``; subclasses implement ``_attribute``.

    Args:
        module: the classifier. Its training flags, ``requires_grad`` and ``.grad`` are restored
            after each call and on exit.
        layer: a qualified layer name or a submodule of ``module``; an unknown name is a
            ValueError that names it (and suggests close names).
        lock: held while hooks are on ``module`` (``LoadedModel.lock`` for a shared model).
    """

    def __init__(self, module: nn.Module, layer: str | nn.Module, *, lock: threading.RLock | None = None) -> None:
        self.module = module
        self.layer_name, self.layer = resolve_layer(module, layer)
        self.lock = lock
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError(f"{type(self).__name__} is already in a `with` block; it is not re-entrant.")
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(self.lock or contextlib.nullcontext())
            stack.enter_context(preserved_state(self.module))
            self._add_hooks(stack)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()  # hooks first (last in), then the model's state, then the lock

    def _add_hooks(self, stack: contextlib.ExitStack) -> None:
        """Register the hooks this method needs; push each handle's ``remove`` on ``stack``."""

    def attribute(self, inputs: torch.Tensor, target: int | list[int]) -> np.ndarray:
        """Maps of ``target`` (one class, or one per input) for ``inputs`` ``(N, C, H, W)``, in [0, 1]."""
        if self._stack is not None:
            return self._attribute(inputs, target)
        with self:
            return self._attribute(inputs, target)

    def _attribute(self, inputs: torch.Tensor, target: int | list[int]) -> np.ndarray:
        raise NotImplementedError

    def cost(self, size: tuple[int, int]) -> Cost:
        """What one ``.attribute`` call on one image of ``size`` = (H, W) costs."""
        raise NotImplementedError
