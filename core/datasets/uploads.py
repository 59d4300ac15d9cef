"""Unpack an uploaded dataset zip safely into the uploads folder, where it survives restarts.

Every member is checked before anything is written: no absolute or ``../`` paths, no
symbolic links, at most :data:`core.config.limits.DATASET_FILES` files and
:data:`core.config.limits.DATASET_BYTES` bytes, no member compressed more than
:data:`core.config.limits.ZIP_MEMBER_RATIO` to one (a zip bomb). Extraction happens in a temporary
folder that is always removed; only a complete dataset is moved to its final place.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from core.config import limits
from core.config.settings import get_settings
from core.datasets.folders import IGNORED
from core.errors import DatasetError

_CHUNK = 1 << 20


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, or None for folders and zip-tool clutter; unsafe paths raise."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise DatasetError(
            f"The zip contains the path '{info.filename}', which points outside the dataset folder; "
            "it was refused and nothing was unpacked. Zip the dataset folder itself (relative paths only)."
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DatasetError(f"The zip contains a symbolic link ('{info.filename}'); links are refused. Zip real files.")
    if info.is_dir() or any(part in IGNORED or part.startswith(".") for part in path.parts):
        return None
    return path


def _check_members(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    members, total = [], 0
    for info in archive.infolist():
        path = _member_path(info)
        if path is None:
            continue
        members.append((info, path))
        limits.DATASET_FILES.check(len(members))
        total += info.file_size
        limits.DATASET_BYTES.check(total)
        limits.ZIP_MEMBER_RATIO.check(info.file_size / max(info.compress_size, 1), name=f"'{info.filename}'")
    if not members:
        raise DatasetError("The zip holds no files. Zip a dataset folder with one subfolder of images per class.")
    return members


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, done: int) -> int:
    """Stream one member to ``target``, counting real bytes (declared sizes can lie); returns the new total."""
    with archive.open(info) as source, target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            done += len(chunk)
            limits.DATASET_BYTES.check(done)
            out.write(chunk)
    return done


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem).strip("._") or "dataset"


def extract_zip(data: bytes, name: str = "dataset.zip") -> Path:
    """Unpack a dataset zip into ``settings.uploads_dir`` and return its folder.

    The folder is named after the zip and the start of its sha256, so uploading the same zip
    again reuses it.

    Raises:
        DatasetError: not a zip, damaged, encrypted, or with unsafe paths or links.
        LimitExceeded: too many files, too many bytes, or a member compressed like a zip bomb.
    """
    uploads = get_settings().uploads_dir
    final = uploads / f"{_slug(name)}-{hashlib.sha256(data).hexdigest()[:10]}"
    if final.is_dir():
        return final
    uploads.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".extract-", dir=uploads))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            done = 0
            for info, path in _check_members(archive):
                target = workdir.joinpath(*path.parts)
                if not target.resolve().is_relative_to(workdir.resolve()):
                    raise DatasetError(f"'{info.filename}' would be written outside the dataset folder; refused.")
                target.parent.mkdir(parents=True, exist_ok=True)
                done = _copy(archive, info, target, done)
        workdir.rename(final)
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"'{name}' is not a readable zip file ({exc}). Create the zip again.") from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted members, unsupported compression
        raise DatasetError(f"'{name}' cannot be unpacked ({exc}). Zip it again without a password.") from None
    except OSError as exc:
        if final.is_dir():  # the same zip was unpacked by another session meanwhile
            return final
        raise DatasetError(f"Unpacking '{name}' failed ({exc.strerror or exc}).") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return final
