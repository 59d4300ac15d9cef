"""Downloads that appear under their name only when complete, checked against the sha256 their name embeds."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from core.config.settings import get_settings
from core.errors import WeightsUnavailable

Progress = Callable[[int, int], None]  # (bytes done, bytes total or 0 when unknown)
_HASH = re.compile(r"-([a-f0-9]{6,})\.")


def expected_hash_prefix(filename: str) -> str | None:
    """torchvision file names embed the start of the file's sha256: ``resnet18-f37072fd.pth``."""
    match = _HASH.search(filename)
    return match.group(1) if match else None


def sha256_of(path: Path) -> str:
    """The file's sha256 as hex."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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
