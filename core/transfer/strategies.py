"""Transfer learning: a new classifier head, the strategies, and which parameters each one trains.

The head is the model's last ``nn.Linear`` (``fc`` of ResNet and RegNet, ``classifier`` of
DenseNet, ``classifier[-1]`` of VGG, AlexNet, MobileNet, EfficientNet and ConvNeXt, and the
last layer of any classroom model ending in ``nn.Linear``). It is replaced by a fresh layer
with one output per class. Then:

* feature extraction freezes everything but the head (the backbone is a fixed feature
  extractor, so its features can be computed once);
* fine-tuning trains the whole network, or only its last N blocks, with a smaller learning
  rate for the backbone than for the head;
* the baseline trains the same architecture from random weights, with the head's learning rate.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass

from torch import nn

from core.config import limits


def head_name(module: nn.Module) -> str:
    """The qualified name of ``module``'s last ``nn.Linear``: the classifier head.

    Raises:
        ValueError: the module has no ``nn.Linear``.
    """
    linears = [name for name, sub in module.named_modules() if isinstance(sub, nn.Linear)]
    if not linears:
        raise ValueError(
            f"module {type(module).__name__} has no nn.Linear layer to replace with a new classifier head; "
            "transfer learning needs a model that ends in one."
        )
    return linears[-1]


def replace_head(module: nn.Module, num_classes: int) -> str:
    """Replace the head by a new ``nn.Linear`` with ``num_classes`` outputs (PyTorch's default init).

    The new layer is on the old one's device and dtype. Returns the head's qualified name.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
    name = head_name(module)
    old = module.get_submodule(name)
    new = nn.Linear(
        old.in_features, num_classes, bias=old.bias is not None, device=old.weight.device, dtype=old.weight.dtype
    )
    module.set_submodule(name, new)
    return name


def _units(module: nn.Module, prefix: str, head: str, open_sequential: bool) -> Iterator[str]:
    for name, child in module.named_children():
        full = prefix + name
        if full == head or not any(True for _ in child.parameters()):
            continue
        if head.startswith(full + ".") or (open_sequential and isinstance(child, nn.Sequential)):
            yield from _units(child, full + ".", head, open_sequential=False)
        else:
            yield full


def blocks(module: nn.Module, head: str) -> list[str]:
    """The backbone's blocks in forward order, the units that fine-tuning can unfreeze from the end.

    A block is a top-level layer with parameters; top-level ``nn.Sequential`` containers and
    the container holding the head are opened one level (so ResNet gives ``conv1, bn1,
    layer1.0, ..., layer4.1`` and MobileNet ``features.0, ..., features.N``).
    """
    return list(_units(module, "", head, open_sequential=True))


@dataclass(frozen=True)
class Strategy:
    """A way to reuse (or not) a pretrained network for a new task."""

    key: str
    label: str
    pretrained: bool  # starts from the chosen model's weights; False: from random weights
    summary: str


FEATURE_EXTRACTION = Strategy(
    "feature_extraction",
    "Feature extraction",
    True,
    "Backbone frozen, only the new head learns: few parameters, fast, hard to overfit.",
)
FINE_TUNING = Strategy(
    "fine_tuning",
    "Fine-tuning",
    True,
    "The backbone learns too, with a smaller learning rate than the new head: adapts features to the new data.",
)
SCRATCH = Strategy(
    "scratch",
    "From scratch",
    False,
    "Same architecture from random weights: what pretraining is worth.",
)
STRATEGIES = {s.key: s for s in (FEATURE_EXTRACTION, FINE_TUNING, SCRATCH)}
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
MAX_EPOCHS = int(limits.EPOCHS.value)  # the most epochs one run may ask for


@dataclass(frozen=True)
class TrainSettings:
    """What every strategy of a run shares: budget, input size, optimiser and seed.

    ``lr`` is the head's learning rate (and the baseline's); fine-tuning gives the backbone
    ``lr * backbone_lr_factor``. ``unfreeze_blocks`` None fine-tunes the whole network,
    N only the last N blocks (:func:`blocks`). SGD with momentum, cosine decay over the epochs.
    """

    epochs: int = 8
    batch_size: int = 16
    image_size: int = 224
    lr: float = 0.01
    backbone_lr_factor: float = 0.1
    unfreeze_blocks: int | None = None
    augment: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}.")
        limits.EPOCHS.check(self.epochs)
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (batch normalisation needs it), got {self.batch_size}.")
        if not 16 <= self.image_size <= 512:
            raise ValueError(f"image_size must be between 16 and 512 pixels, got {self.image_size}.")
        if not 0 < self.lr <= 1:
            raise ValueError(f"lr must be in (0, 1], got {self.lr}.")
        if not 0 < self.backbone_lr_factor <= 1:
            raise ValueError(f"backbone_lr_factor must be in (0, 1], got {self.backbone_lr_factor}.")
        if self.unfreeze_blocks is not None and self.unfreeze_blocks < 1:
            raise ValueError(f"unfreeze_blocks must be None (whole network) or at least 1, got {self.unfreeze_blocks}.")

    @classmethod
    def from_form(
        cls,
        *,
        epochs: object,
        batch_size: object,
        image_size: object,
        lr: object,
        backbone_lr_factor: object,
        fine_tune_blocks: object,
        augment: object,
        seed: object,
    ) -> TrainSettings:
        """The settings from a form's values, checked field by field.

        ``fine_tune_blocks`` 0 fine-tunes the whole network (``unfreeze_blocks=None``). Whole
        numbers may come as floats (a number input's ``3.0``); anything else that is not a
        number raises.

        Raises:
            ValueError: a field is not a number of the right kind or is out of range; the message names it.
        """
        blocks_ = _whole("fine_tune_blocks", fine_tune_blocks)
        return cls(
            epochs=_whole("epochs", epochs),
            batch_size=_whole("batch_size", batch_size),
            image_size=_whole("image_size", image_size),
            lr=_real("lr", lr),
            backbone_lr_factor=_real("backbone_lr_factor", backbone_lr_factor),
            unfreeze_blocks=blocks_ or None,
            augment=_flag("augment", augment),
            seed=_whole("seed", seed),
        )


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def _whole(name: str, value: object) -> int:
    number = _real(name, value)
    if not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}.")
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}.")
    return int(number)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return value


def parameter_groups(
    strategy: Strategy, module: nn.Module, head: str, settings: TrainSettings
) -> tuple[list[dict], list[nn.Module]]:
    """Set ``requires_grad`` for ``strategy`` and return the optimiser's groups and the frozen blocks.

    Frozen blocks stay in eval mode while training, so their batch-norm statistics do not move.
    """
    head_params = list(module.get_submodule(head).parameters())
    module.requires_grad_(False)
    for param in head_params:
        param.requires_grad_(True)
    if strategy.key == FEATURE_EXTRACTION.key:
        return [{"params": head_params, "lr": settings.lr}], []
    head_ids = {id(p) for p in head_params}
    if strategy.key == SCRATCH.key:
        module.requires_grad_(True)
        return [{"params": list(module.parameters()), "lr": settings.lr}], []
    units = blocks(module, head)
    chosen = units if settings.unfreeze_blocks is None else units[-settings.unfreeze_blocks :]
    if settings.unfreeze_blocks is None:
        backbone = [p for p in module.parameters() if id(p) not in head_ids]
    else:
        backbone = [p for unit in chosen for p in module.get_submodule(unit).parameters()]
    for param in backbone:
        param.requires_grad_(True)
    frozen = [module.get_submodule(unit) for unit in units if unit not in chosen]
    groups = [
        {"params": backbone, "lr": settings.lr * settings.backbone_lr_factor},
        {"params": head_params, "lr": settings.lr},
    ]
    return groups, frozen
