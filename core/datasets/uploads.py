"""Unpack an uploaded dataset zip safely into the uploads folder, where it survives restarts.

Every member is checked before anything is written: no absolute or ``../`` paths, no
symbolic links, at most :data:`core.config.limits.DATASET_FILES` files and
:data:`core.config.limits.UPLOAD_UNPACKED_BYTES` bytes of images, no member compressed more than
:data:`core.config.limits.ZIP_MEMBER_RATIO` to one (a zip bomb), and all uploads together within
:data:`core.config.limits.UPLOADS_TOTAL_BYTES`. Members that are not images are never written (they
are listed as skipped), except the text files a caller asks for (a YOLO dataset's labels and
data.yaml), which count towards the same limits; empty class folders are kept so that the dataset
check names them.
Extraction happens in a temporary folder that is always removed; only a complete dataset is
moved to its final place. Uploads unused for :data:`core.config.limits.UPLOAD_MAX_AGE_DAYS` are deleted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from torchvision.datasets.folder import IMG_EXTENSIONS

from core.config import limits
from core.config.settings import get_settings
from core.datasets.folders import IGNORED, ZIP_SKIPPED
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
    if any(part in IGNORED or part.startswith(".") for part in path.parts):
        return None
    return path


class _Plan:
    """What to unpack, checked before any byte is written: images, folders to keep, and what is skipped."""

    def __init__(self, archive: zipfile.ZipFile, name: str, also: frozenset[str] = frozenset()) -> None:
        self.images: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        self.folders: set[PurePosixPath] = set()
        self.skipped: list[str] = []
        self.total = 0
        for info in archive.infolist():
            path = _member_path(info)
            if path is None:
                continue
            limits.DATASET_FILES.check(len(self.images) + len(self.skipped) + 1)
            if info.is_dir():
                self.folders.add(path)
            elif path.suffix.lower() not in IMG_EXTENSIONS and path.suffix.lower() not in also:
                self.skipped.append(str(path))
                self.folders.add(path.parent)  # a class folder of non-images stays, empty, and is named
            else:
                self.images.append((info, path))
                self.total += info.file_size
                limits.UPLOAD_UNPACKED_BYTES.check(self.total, name=f"'{name}'")
                limits.ZIP_MEMBER_RATIO.check(info.file_size / max(info.compress_size, 1), name=f"'{info.filename}'")
        if not self.images:
            raise DatasetError("The zip holds no images. Zip a dataset folder with one subfolder of images per class.")


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, done: int, name: str) -> int:
    """Stream one member to ``target``, counting real bytes (declared sizes can lie); returns the new total."""
    with archive.open(info) as source, target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            done += len(chunk)
            limits.UPLOAD_UNPACKED_BYTES.check(done, name=f"'{name}'")
            out.write(chunk)
    return done


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def expire_uploads(max_age_days: float = limits.UPLOAD_MAX_AGE_DAYS) -> list[Path]:
    """Delete uploads not used for ``max_age_days`` (and extraction leftovers older than an hour); returns them."""
    settings = get_settings()
    now, removed = time.time(), []
    for folder in (settings.uploads_dir, settings.model_uploads_dir):
        for entry in folder.iterdir() if folder.is_dir() else ():
            age = now - entry.stat().st_mtime
            if age > max_age_days * 86400 or (entry.name.startswith(".extract-") and age > 3600):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def _check_server_space(uploads: Path, plan: _Plan) -> None:
    expire_uploads()
    used = _folder_bytes(uploads)
    limits.UPLOADS_TOTAL_BYTES.check(used + plan.total, days=limits.UPLOAD_MAX_AGE_DAYS)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem).strip("._") or "dataset"


def _inside(workdir: Path, path: PurePosixPath, shown: str) -> Path:
    target = workdir.joinpath(*path.parts)
    if not target.resolve().is_relative_to(workdir.resolve()):
        raise DatasetError(f"'{shown}' would be written outside the dataset folder; refused.")
    return target


def extract_zip(data: bytes, name: str = "dataset.zip", also: frozenset[str] = frozenset()) -> Path:
    """Unpack a dataset zip into ``settings.uploads_dir`` and return its folder.

    The folder is named after the zip and the start of its sha256, so uploading the same zip
    again reuses it. ``also``: lower-case suffixes (``".txt"``) of other files to keep beside the images.

    Raises:
        DatasetError: not a zip, damaged, encrypted, or with unsafe paths or links.
        LimitExceeded: too many files, too many bytes, or a member compressed like a zip bomb.
    """
    uploads = get_settings().uploads_dir
    kept = "-".join(sorted(s.strip(".") for s in also))  # the same zip unpacked for another use is another folder
    final = uploads / f"{_slug(name)}-{hashlib.sha256(data).hexdigest()[:10]}{'-' + kept if kept else ''}"
    if final.is_dir():
        os.utime(final)  # used again: it expires later
        return final
    uploads.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".extract-", dir=uploads))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            plan = _Plan(archive, name, also)
            _check_server_space(uploads, plan)
            done = 0
            for folder in plan.folders:
                _inside(workdir, folder, folder.as_posix()).mkdir(parents=True, exist_ok=True)
            for info, path in plan.images:
                target = _inside(workdir, path, info.filename)
                target.parent.mkdir(parents=True, exist_ok=True)
                done = _copy(archive, info, target, done, name)
        if plan.skipped:
            (workdir / ZIP_SKIPPED).write_text(json.dumps(plan.skipped))
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
