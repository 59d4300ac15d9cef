"""Values as files: a safe, self-describing format for what a browser left on the server.

Never a pickle (a file on disk must not be able to run code when read back): the value's
structure is JSON, with tuples, dicts and bytes tagged, and the bytes appended after it raw.
Holds ``None``, ``bool``, ``int``, ``float`` (NaN too), ``str``, ``bytes``, and ``tuple``,
``list`` and ``dict`` of these.
"""

from __future__ import annotations

import json
import numbers
import struct

MAGIC = b"CLBS1\n"
_HEADER = struct.Struct(">Q")  # length of the JSON part


def encode(name: str, order: int, value: object) -> bytes:
    """The file for ``value`` kept under ``name``; ``order`` sorts a browser's items oldest first.

    Raises:
        TypeError: the value holds something this format cannot keep (the message names its type).
    """
    blobs: list[bytes] = []
    head = json.dumps({"name": name, "order": order, "value": _tree(value, blobs), "blobs": [len(b) for b in blobs]})
    data = head.encode()
    return b"".join([MAGIC, _HEADER.pack(len(data)), data, *blobs])


def decode(data: bytes) -> tuple[str, int, object]:
    """(name, order, value) from a file written by :func:`encode`.

    Raises:
        ValueError: the file is not one (truncated, another format, or tampered with).
    """
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _HEADER.size:
        raise ValueError("not a stored value: its header is missing.")
    start = len(MAGIC) + _HEADER.size
    (length,) = _HEADER.unpack_from(data, len(MAGIC))
    try:
        head = json.loads(data[start : start + length])
        sizes = [int(n) for n in head["blobs"]]
        name, order = head["name"], int(head["order"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a stored value: {exc}") from None
    if not isinstance(name, str) or start + length + sum(sizes) != len(data) or min(sizes, default=0) < 0:
        raise ValueError("not a stored value: its parts do not add up to the file.")
    offset, blobs = start + length, []
    for size in sizes:
        blobs.append(data[offset : offset + size])
        offset += size
    return name, order, _value(head["value"], blobs)


def _tree(value: object, blobs: list[bytes]) -> object:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, bytes | bytearray):
        blobs.append(bytes(value))
        return {"b": len(blobs) - 1}
    if isinstance(value, tuple):
        return {"t": [_tree(v, blobs) for v in value]}
    if isinstance(value, list):
        return [_tree(v, blobs) for v in value]
    if isinstance(value, dict):
        return {"d": [[_tree(k, blobs), _tree(v, blobs)] for k, v in value.items()]}
    raise TypeError(f"value holds a {type(value).__name__}, which cannot be kept on disk.")


def _value(tree: object, blobs: list[bytes]) -> object:
    if isinstance(tree, list):
        return [_value(v, blobs) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if set(tree) == {"b"} and isinstance(tree["b"], int) and 0 <= tree["b"] < len(blobs):
        return blobs[tree["b"]]
    if set(tree) == {"t"} and isinstance(tree["t"], list):
        return tuple(_value(v, blobs) for v in tree["t"])
    if set(tree) == {"d"} and isinstance(tree["d"], list):
        try:
            return {_value(k, blobs): _value(v, blobs) for k, v in tree["d"]}
        except TypeError as exc:  # a pair that is not one, or a key that cannot be one
            raise ValueError(f"not a stored value: {exc}") from None
    raise ValueError("not a stored value: an unknown part.")
