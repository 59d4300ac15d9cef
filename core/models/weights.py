"""Where pretrained weights come from, and how untrusted weight files are read.

Resolution order for a zoo model's weights file:
1. shipped with ConvLens (``ModelCard.bundled_weights``),
2. the torch hub cache (``$TORCH_HOME/hub/checkpoints``, where torchvision itself puts them),
3. the configured weights folder (``CONVLENS_WEIGHTS_DIR``, the offline kit),
4. a download into the torch hub cache, with progress, when the network is allowed.

Every file is read with ``torch.load(weights_only=True)``: a pickle that would run code
is refused and its code never runs.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickletools
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import torch
from torch import nn

from core.config.settings import get_settings
from core.errors import WeightsError, WeightsUnavailable
from core.models import classroom, efficientnet_lite
from core.models.registry import DEFAULT_KEY, ZOO, ModelCard, model_card, zoo_cards

Progress = Callable[[int, int], None]  # (bytes done, bytes total or 0 when unknown)
_HASH = re.compile(r"-([a-f0-9]{6,})\.")


def hub_checkpoints_dir() -> Path:
    """The folder torchvision downloads to (honours ``TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def expected_hash_prefix(filename: str) -> str | None:
    """torchvision file names embed the start of the file's sha256: ``resnet18-f37072fd.pth``."""
    match = _HASH.search(filename)
    return match.group(1) if match else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class WeightsLocation:
    """Where a model's pretrained weights are, or would have to be."""

    filename: str | None
    path: Path | None
    where: str | None  # "shipped with ConvLens" | "torch hub cache" | "weights folder" | None

    @property
    def available(self) -> bool:
        return self.path is not None


def search_dirs() -> list[Path]:
    return [hub_checkpoints_dir(), get_settings().weights_dir]


def locate(card: ModelCard) -> WeightsLocation:
    """Find ``card``'s weights file on this machine without touching the network."""
    if card.bundled_weights is not None and card.bundled_weights.is_file():
        return WeightsLocation(card.bundled_weights.name, card.bundled_weights, "shipped with ConvLens")
    if card.weights_file is None:
        return WeightsLocation(None, None, None)
    for folder, where in zip(search_dirs(), ("torch hub cache", "weights folder"), strict=True):
        candidate = folder / card.weights_file
        if candidate.is_file():
            return WeightsLocation(card.weights_file, candidate, where)
    return WeightsLocation(card.weights_file, None, None)


def availability() -> list[tuple[ModelCard, WeightsLocation]]:
    """Every zoo model with where its weights are on this machine (no network)."""
    return [(card, locate(card)) for card in zoo_cards()]


def unavailable_message(card: ModelCard, reason: str) -> str:
    hub, folder = search_dirs()
    return (
        f"The pretrained weights of {card.label} are not on this machine ({reason}). "
        f"Put the file `{card.weights_file}` ({card.file_mb or 0:.0f} MB, from {card.weights_url}) "
        f"in `{hub}` or in the weights folder `{folder}` (CONVLENS_WEIGHTS_DIR), "
        "or explore the architecture with random weights (untrained)."
    )


def download_file(url: str, target: Path, progress: Progress | None = None, timeout: float = 15.0) -> Path:
    """Download ``url`` to ``target``; the file appears under its name only when complete.

    When ``target``'s name embeds a sha256 prefix (torchvision's do), the download must match it.
    ``file://`` URLs are read even when ``CONVLENS_OFFLINE`` is set: they are not the network.

    Raises:
        WeightsUnavailable: offline, the download failed, or it is corrupt; the message says which.
    """
    if get_settings().offline and urllib.parse.urlsplit(url).scheme != "file":
        raise WeightsUnavailable(f"Cannot download `{target.name}`: CONVLENS_OFFLINE is set.")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".partial-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total, done = int(response.headers.get("Content-Length") or 0), 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        prefix = expected_hash_prefix(target.name)
        if prefix and not digest.hexdigest().startswith(prefix):
            raise WeightsUnavailable(
                f"The download of `{target.name}` is corrupt (sha256 does not start with {prefix}). Try again."
            )
        os.replace(tmp_name, target)
    except WeightsUnavailable:
        raise
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise WeightsUnavailable(f"Downloading `{target.name}` from {url} failed: {exc}") from None
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def download(card: ModelCard, progress: Progress | None = None, timeout: float = 15.0) -> Path:
    """Download ``card``'s weights into the torch hub cache and check their hash.

    The file appears under its final name only when complete and verified.

    Raises:
        WeightsUnavailable: offline (or ``CONVLENS_OFFLINE``), or the download failed.
    """
    if card.weights_url is None or card.weights_file is None:
        raise WeightsUnavailable(f"{card.label} has no published weights to download.")
    if get_settings().offline:
        raise WeightsUnavailable(unavailable_message(card, "CONVLENS_OFFLINE is set"))
    try:
        return download_file(card.weights_url, hub_checkpoints_dir() / card.weights_file, progress, timeout)
    except WeightsUnavailable as exc:
        raise WeightsUnavailable(unavailable_message(card, f"download failed: {exc}")) from None


_CALLS = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD"}


def _calls_code(source: Path | str | BinaryIO) -> bool:
    """True when the bytes are a well-formed bare pickle that imports or calls Python objects.

    Read with :mod:`pickletools`, which only lists opcodes and never executes them. Random bytes
    are not a well-formed pickle, so they are "not a weights file", not "code".
    """
    try:
        if isinstance(source, (str, Path)):
            data = Path(source).read_bytes()
        else:
            source.seek(0)
            data = source.read()
        if zipfile.is_zipfile(io.BytesIO(data)):  # torch's own format: its refusal names the global itself
            return False
        return bool(_CALLS & {op.name for op, _arg, _pos in pickletools.genops(data)})
    except Exception:  # not a pickle, or unreadable
        return False


def read_state_dict(source: str | Path | bytes | BinaryIO) -> dict[str, torch.Tensor]:
    """Read a state dict safely (``weights_only=True``) from a path, bytes or a file object.

    Accepts a bare state dict or a checkpoint holding one under ``state_dict`` or ``model``.

    Raises:
        WeightsError: not a PyTorch file, a pickle that wants to run code, or no tensors inside.
    """
    name = Path(source).name if isinstance(source, (str, Path)) else getattr(source, "name", "the file")
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        loaded = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        unsafe = "unsupported global" in str(exc).lower() or _calls_code(source)
        why = (
            "it contains Python objects that would run code when loaded, so it was refused unread"
            if unsafe
            else "it is not a PyTorch weights file"
        )
        raise WeightsError(
            f"Cannot use {name}: {why}. Save the weights with `torch.save(model.state_dict(), path)`."
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if not isinstance(loaded, Mapping) or not any(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(
            f"{name} holds no tensors; expected a state dict saved with `torch.save(model.state_dict(), path)`."
        )
    return {str(k).removeprefix("module."): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}


# DenseNet checkpoints published by torchvision use the old key names "norm.1" for "norm1".
_LEGACY_DENSENET = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


def apply_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], label: str) -> None:
    """Load ``state_dict`` into ``model`` strictly; a mismatch names the offending keys.

    Raises:
        WeightsError: missing or unexpected keys, or tensors of the wrong shape.
    """
    fixed = {(_LEGACY_DENSENET.sub(r"\1\2", key)): value for key, value in state_dict.items()}
    expected = model.state_dict()
    # Old checkpoints lack BatchNorm's num_batches_tracked; PyTorch fills it in when loading.
    missing = sorted(k for k in set(expected) - set(fixed) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(fixed) - set(expected))
    wrong_shape = [k for k in expected.keys() & fixed.keys() if expected[k].shape != fixed[k].shape]

    def few(keys: list[str]) -> str:
        return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")

    problems = []
    if missing:
        problems.append(f"missing keys: {few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {few(unexpected)}")
    if wrong_shape:
        shapes = [f"{k} {tuple(fixed[k].shape)} vs {tuple(expected[k].shape)}" for k in wrong_shape]
        problems.append(f"wrong shapes: {few(shapes)}")
    if problems:
        raise WeightsError(
            f"These weights do not fit {label} ({'; '.join(problems)}). "
            "They were probably saved from another architecture: choose the matching model."
        )
    model.load_state_dict(fixed, strict=True)


def default_key() -> str:
    """The model the app starts with, chosen so that it shows something trained.

    ResNet-18 when its ImageNet weights are on this machine, else EfficientNet-Lite0 (its
    ImageNet weights install with ConvLens), else the first torchvision model whose weights are
    here, else the classroom model (it ships with ConvLens, so it needs no download).
    """
    for key in (DEFAULT_KEY, efficientnet_lite.KEY):
        if locate(model_card(key)).available:
            return key
    ready = [key for key, item in ZOO.items() if item.weights is not None and locate(model_card(key)).available]
    return ready[0] if ready else classroom.KEY
