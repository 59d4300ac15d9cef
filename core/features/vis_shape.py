"""Feature visualisation as one object: a shape of one colour on a plain background.

Lucid's Fourier image lets a class picture fill with the class's texture, repeated. For a
model of shapes (the classroom model) the question is which *outline* it takes for a class.
:class:`ShapeImage` optimises only an outline: a coarse mask (``GRID`` x ``GRID`` logits,
upsampled, through a steep sigmoid, then thresholded: no pixel noise or haze can form) that
starts as a small round blob in the middle. Each step paints it in two random colours far
apart (as the shapes data are drawn), moved up to a quarter of the image, scaled and rotated
at random, with a little pixel noise; so what survives is an outline the model knows whatever
its colour, place and angle. A small penalty keeps the object's area under a quarter of the
image and its edges short.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

GRID = 16  # the mask's resolution before upsampling
SHARPNESS = 5.0  # the sigmoid's slope: a nearly two-valued mask
SHOWN = ((0.2, 0.25, 0.35), (0.95, 0.8, 0.3))  # background, object: the colours of the result
MIN_CONTRAST = 0.45  # RGB distance (in [0, 1]) between the two random colours of a step
MAX_AREA = 0.25  # of the image, before the area penalty starts
SHIFT = 0.25  # largest random move, as a fraction of the image side
NOISE = 0.05


class ShapeImage:
    """A ``(1, 3, size, size)`` image in [0, 1]: a mask painted in two colours (see the module).

    The mask is optimised as the model sees it at ``work`` px (its own input size: a model of
    64 px shapes knows them at that scale) and drawn at ``size`` px from the same coarse logits.
    """

    def __init__(self, size: int, seed: int, device: torch.device, work: int | None = None) -> None:
        line = torch.linspace(-1, 1, GRID)
        yy, xx = torch.meshgrid(line, line, indexing="ij")
        self.size, self.work = size, work or size
        self.logits = (1.0 - 6.0 * (xx**2 + yy**2)).view(1, 1, GRID, GRID).to(device).requires_grad_(True)
        self.shown = torch.tensor(SHOWN, device=device).view(2, 1, 3, 1, 1)
        self.device = device

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [self.logits]

    def soft_mask(self, side: int | None = None) -> torch.Tensor:
        """The object's coverage of each pixel, ``(1, 1, side, side)`` in [0, 1] (default side: ``work``)."""
        side = side or self.work
        up = F.interpolate(self.logits, size=(side, side), mode="bicubic", align_corners=False)
        return torch.sigmoid(SHARPNESS * up)

    def mask(self, side: int | None = None) -> torch.Tensor:
        """:meth:`soft_mask` thresholded at 1/2, with its gradient (straight-through): the model always sees
        a crisp object of one colour, never a faint haze of colour in between (which it may also accept)."""
        soft = self.soft_mask(side)
        return (soft > 0.5).to(soft.dtype) + soft - soft.detach()

    def __call__(self, side: int | None = None) -> torch.Tensor:
        """The object in the colours of the result, at ``side`` px (default: ``size``)."""
        background, colour = self.shown
        mask = self.mask(side or self.size)
        return background * (1 - mask) + colour * mask

    def seen(self) -> torch.Tensor:
        """The clean image as the model is shown it while optimising (``work`` px)."""
        return self(self.work)

    def view(self, generator: torch.Generator) -> torch.Tensor:
        """The mask moved, scaled and rotated at random, painted in two random colours far apart, plus noise."""
        angle = (2 * float(torch.rand(1, generator=generator)) - 1) * math.pi
        scale = 0.75 + 0.5 * float(torch.rand(1, generator=generator))
        shift_x, shift_y = ((2 * torch.rand(2, generator=generator) - 1) * 2 * SHIFT).tolist()  # grid units: 2 a side
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        theta = torch.tensor([[cos, -sin, shift_x], [sin, cos, shift_y]], device=self.device)[None]
        mask = self.mask()
        grid = F.affine_grid(theta, list(mask.shape), align_corners=False)
        mask = F.grid_sample(mask, grid, align_corners=False, padding_mode="zeros")
        background, colour = _colour_pair(generator)
        image = background.to(self.device) * (1 - mask) + colour.to(self.device) * mask
        noise = torch.randn(image.shape, generator=generator).to(self.device) * NOISE
        return (image + noise).clamp(0, 1)

    def penalty(self) -> torch.Tensor:
        """Area beyond :data:`MAX_AREA` and the mask's total variation (long, ragged edges)."""
        mask = self.soft_mask()
        area = F.relu(mask.mean() - MAX_AREA)
        edges = (mask[..., 1:, :] - mask[..., :-1, :]).abs().mean() + (mask[..., 1:] - mask[..., :-1]).abs().mean()
        return area + 0.5 * edges


def _colour_pair(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    while True:
        background, colour = torch.rand(2, 3, generator=generator)
        if float((background - colour).norm()) > MIN_CONTRAST:
            return background.view(1, 3, 1, 1), colour.view(1, 3, 1, 1)
