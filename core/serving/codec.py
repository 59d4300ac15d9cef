"""A safe wire format between the dashboard and the Ray Serve application: JSON plus ``.npy`` arrays.

No pickle crosses the network (a pickle runs code when loaded): values are JSON trees in which
arrays, images and tensors are references to ``.npy`` members of one zip (read with
``allow_pickle=False``), and dataclasses are rebuilt only when they are ``core`` result types
listed in :data:`ALLOWED`. Tuples stay tuples, dicts keep non-string keys; images keep their
exact pixels (so image digests agree on both sides).
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import zipfile
from typing import Any

import numpy as np
import torch
from PIL import Image

ALLOWED = {
    "core.models.classification:Classification",
    "core.models.classification:Prediction",
    "core.explain.gradcam:GradCamResult",
    "core.explain.gradcam:LayerMaps",
    "core.explain.methods:Attribution",
    "core.explain.attributor:Cost",
    "core.explain.captum_methods:Options",
    "core.features.capture:Activations",
    "core.features.capture:ConvMaps",
    "core.features.receptive_fields:ReceptiveField",
    "core.detection.yolo:DetectionBatch",
    "core.detection.boxes:Detections",
}


class CodecError(ValueError):
    """The bytes are not a message of this format, or name a type that is not allowed."""


def _pack(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"__array__": len(arrays) - 1}
    if isinstance(value, Image.Image):
        arrays.append(np.asarray(value))
        return {"__image__": len(arrays) - 1, "mode": value.mode}
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = f"{type(value).__module__}:{type(value).__qualname__}"
        if name not in ALLOWED:
            raise CodecError(f"{name} cannot be sent to or from the serving engine.")
        fields = {f.name: _pack(getattr(value, f.name), arrays) for f in dataclasses.fields(value) if f.init}
        return {"__dataclass__": name, "fields": fields}
    if isinstance(value, tuple):
        return {"__tuple__": [_pack(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_pack(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_pack(k, arrays), _pack(v, arrays)] for k, v in value.items()]}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise CodecError(f"a {type(value).__name__} cannot be sent to or from the serving engine.")


def _unpack(tree: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(tree, list):
        return [_unpack(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__array__" in tree:
        return arrays[tree["__array__"]]
    if "__image__" in tree:
        image = Image.fromarray(np.array(arrays[tree["__image__"]]))
        return image if image.mode == tree["mode"] else image.convert(tree["mode"])
    if "__tuple__" in tree:
        return tuple(_unpack(v, arrays) for v in tree["__tuple__"])
    if "__dict__" in tree:
        return {_unpack(k, arrays): _unpack(v, arrays) for k, v in tree["__dict__"]}
    if "__dataclass__" in tree:
        name = tree["__dataclass__"]
        if name not in ALLOWED:
            raise CodecError(f"{name!r} is not a type the serving engine may send.")
        module, _, qualname = name.partition(":")
        cls = getattr(importlib.import_module(module), qualname)
        return cls(**{k: _unpack(v, arrays) for k, v in tree["fields"].items()})
    raise CodecError("unknown value in a serving message")


def encode(value: Any) -> bytes:
    """``value`` (JSON-like, with arrays, images and allowed dataclasses) as bytes."""
    arrays: list[np.ndarray] = []
    tree = _pack(value, arrays)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("tree.json", json.dumps(tree))
        for i, array in enumerate(arrays):
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(f"{i}.npy", buffer.getvalue())
    return out.getvalue()


def decode(data: bytes) -> Any:
    """The value :func:`encode` made; arrays come back read-only.

    Raises:
        CodecError: not a message of this format, or a type outside :data:`ALLOWED`.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            tree = json.loads(archive.read("tree.json"))
            count = sum(1 for n in archive.namelist() if n.endswith(".npy"))
            arrays = [np.load(io.BytesIO(archive.read(f"{i}.npy")), allow_pickle=False) for i in range(count)]
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise CodecError(f"not a serving message ({type(exc).__name__}: {exc})") from None
    for array in arrays:
        array.flags.writeable = False
    return _unpack(tree, arrays)
