"""How feature visualisation sees its image: a decorrelated Fourier parametrisation, random
transformations it must survive, and a ReLU whose gradient never dies (Lucid/Lucent's tools).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# Lucent's colour correlation (the square root of ImageNet's colour covariance, from its SVD).
COLOR_CORRELATION = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
COLOR = COLOR_CORRELATION / np.max(np.linalg.norm(COLOR_CORRELATION, axis=0))
SCALES = tuple(1 + (i - 5) / 50 for i in range(11))
ANGLES = tuple(range(-10, 11)) + (0,) * 5


class FourierImage:
    """A ``(1, 3, size, size)`` image in [0, 1] from a 1/f-scaled spectrum over decorrelated colours."""

    def __init__(self, size: int, seed: int, device: torch.device, sd: float = 0.01, decay: float = 1.0) -> None:
        fy = np.fft.fftfreq(size)[:, None]
        fx = np.fft.fftfreq(size)[: size // 2 + 1 + size % 2]
        freqs = np.sqrt(fx * fx + fy * fy)
        generator = torch.Generator().manual_seed(seed)
        spectrum = torch.randn(1, 3, *freqs.shape, 2, generator=generator) * sd
        self.size = size
        self.spectrum = spectrum.to(device).requires_grad_(True)
        scale = 1.0 / np.maximum(freqs, 1.0 / size) ** decay
        self.scale = torch.tensor(scale, dtype=torch.float32, device=device)[None, None, ..., None]
        self.color = torch.tensor(COLOR, device=device)

    def __call__(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.scale * self.spectrum)
        image = torch.fft.irfftn(spectrum, s=(self.size, self.size), norm="ortho")[..., : self.size, : self.size] / 4
        return torch.sigmoid(torch.einsum("bchw,dc->bdhw", image, self.color))

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def seen(self) -> torch.Tensor:
        """The clean image as the model is shown it (the image itself)."""
        return self()

    def view(self, generator: torch.Generator) -> torch.Tensor:
        """What one optimisation step shows the model: the image under :func:`robustness`."""
        return robustness(self(), generator)

    def penalty(self) -> torch.Tensor | float:
        return 0.0


def robustness(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Lucent's standard transforms: pad 12 (grey), jitter 8, scale, rotate, jitter 4."""

    def pick(options) -> float:
        return options[int(torch.randint(len(options), (1,), generator=generator))]

    def jitter(x: torch.Tensor, d: int) -> torch.Tensor:
        dx, dy = (int(v) for v in torch.randint(d, (2,), generator=generator))
        return x[..., dy : dy + x.shape[-2] - d, dx : dx + x.shape[-1] - d]

    x = jitter(F.pad(image, (12,) * 4, value=0.5), 8)
    x = F.interpolate(x, scale_factor=pick(SCALES), mode="bilinear", align_corners=False)
    angle = math.radians(pick(ANGLES))
    rotation = torch.tensor(
        [[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0]], device=x.device
    )
    grid = F.affine_grid(rotation[None], list(x.shape), align_corners=False)
    return jitter(F.grid_sample(x, grid, align_corners=False), 4)


class _RedirectedReLUFunction(torch.autograd.Function):
    """ReLU whose gradient, when no unit of an image passes it, still says which way to go (Lucid)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        relu_grad = torch.where(x < 0, torch.zeros_like(grad), grad)
        redirected = torch.where((x < 0) & (grad > 0), torch.zeros_like(grad), grad)  # never push below the min
        passing = relu_grad.flatten(1).ne(0).any(dim=1).view(-1, *(1,) * (x.dim() - 1))
        return torch.where(passing, relu_grad, redirected)


class RedirectedReLU(nn.ReLU):
    """An ``nn.ReLU`` (so still a follower of its convolution) with Lucid's redirected gradient.

    A channel that is dead on the grey starting image would otherwise get no gradient at all.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RedirectedReLUFunction.apply(x)


def redirect_relus(view: nn.Module) -> nn.Module:
    """Swap every ``nn.ReLU`` of ``view`` (a private copy of the module tree) for :class:`RedirectedReLU`."""
    for parent in list(view.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.ReLU:
                setattr(parent, name, RedirectedReLU())
    return view
