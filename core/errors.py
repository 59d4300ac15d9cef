"""Errors a user can cause and fix. Their message says what was wrong and what to do."""

from __future__ import annotations


class ConvLensError(Exception):
    """Base class: a problem with the user's input or setup, shown to them as it is."""


class ImageError(ConvLensError, ValueError):
    """The bytes or file given are not an image ConvLens can use."""


class WeightsError(ConvLensError, ValueError):
    """A weights file is unreadable, unsafe, or made for another architecture."""


class WeightsUnavailable(ConvLensError, FileNotFoundError):
    """Pretrained weights are not on this machine and could not be downloaded."""


class DatasetError(ConvLensError, ValueError):
    """A dataset folder or zip cannot be used for training."""


class LabelError(ConvLensError, ValueError):
    """A ground-truth label file cannot be used."""
