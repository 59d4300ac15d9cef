"""The offline weights kit: carry pretrained weights into a classroom without internet.

On a machine with internet (files come from their official URLs, or from ``--mirror``)::

    .venv/bin/python -m core.kit download <folder> [--models resnet18 ...] [--yolo yolov8n ...]
    .venv/bin/python -m core.kit verify <folder>

Then start the app with ``CONVLENS_WEIGHTS_DIR=<folder>``: it finds every file there with no
network. ``manifest.json`` lists each file with its size and sha256; ``verify`` checks them
and the sha256 prefix that torchvision puts in its file names, and names every bad file.
``--models all`` takes every zoo model (about 1.1 GB); ``--models`` alone takes none.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.detection.yolo import YOLO_WEIGHTS
from core.errors import WeightsUnavailable
from core.models import registry as zoo
from core.models import weights

MANIFEST = "manifest.json"
FORMAT = 1
CLASSIFIER, YOLO = "classifier", "yolo"
DEFAULT_YOLO = "yolov8n"


@dataclass(frozen=True)
class KitFile:
    """One file of a kit, as the manifest records it."""

    name: str
    model: str  # zoo key, or YOLO model name
    kind: str  # CLASSIFIER or YOLO
    size: int  # bytes
    sha256: str


@dataclass(frozen=True)
class FileCheck:
    """A manifest entry and what is wrong with it (None when nothing is)."""

    file: KitFile
    problem: str | None


@dataclass(frozen=True)
class KitReport:
    """The state of a kit folder."""

    folder: Path
    checks: tuple[FileCheck, ...]
    problem: str | None = None  # the folder or its manifest cannot be used at all
    checksums: bool = True  # False: sizes and names only

    @property
    def ok(self) -> bool:
        return self.problem is None and all(c.problem is None for c in self.checks)

    def ready(self, kind: str = CLASSIFIER) -> tuple[str, ...]:
        """Models of ``kind`` whose files passed the checks."""
        return tuple(c.file.model for c in self.checks if c.file.kind == kind and c.problem is None)

    @property
    def problems(self) -> tuple[str, ...]:
        """What is wrong, one line per bad file (empty when the kit is intact)."""
        if self.problem is not None:
            return (self.problem,)
        return tuple(f"{c.file.name} ({c.file.model}): {c.problem}" for c in self.checks if c.problem is not None)

    def lines(self) -> list[str]:
        """One line per file, ``OK`` or ``BAD`` with the problem, for the command line."""
        if self.problem is not None:
            return [self.problem]
        return [
            f"{'BAD' if c.problem else 'OK '} {c.file.name} ({c.file.model}){': ' + c.problem if c.problem else ''}"
            for c in self.checks
        ]


def downloadable_models() -> list[str]:
    """Zoo keys with published weights (the classroom model ships with ConvLens instead)."""
    return [card.key for card in zoo.zoo_cards() if card.weights_url is not None]


def expected_name(model: str, kind: str) -> str:
    """The file name the app looks for: the zoo card's for classifiers, ``<name>.pt`` for YOLO models."""
    if kind == YOLO:
        if model not in YOLO_WEIGHTS:
            raise ValueError(f"Unknown YOLO model {model!r}; choose one of: {', '.join(YOLO_WEIGHTS)}.")
        return f"{model}.pt"  # what core.detection.yolo.find_model looks for first
    card = zoo.model_card(model)
    if card.weights_url is None or card.weights_file is None:
        raise ValueError(f"{card.label} ({model}) ships with ConvLens; it needs no kit.")
    return card.weights_file


def read_manifest(folder: Path) -> tuple[KitFile, ...]:
    """The files listed in ``folder/manifest.json``.

    Raises:
        ValueError: the folder or its manifest is missing or unreadable; the message says what to do.
    """
    path = folder / MANIFEST
    if not path.is_file():
        raise ValueError(
            f"{folder} holds no {MANIFEST}: it is not an offline kit. "
            f"Make one with `python -m core.kit download {folder}`."
        )
    try:
        data = json.loads(path.read_text())
        return tuple(KitFile(**entry) for entry in data["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is damaged ({exc}); make the kit again with `python -m core.kit download`.") from None


def _problem(folder: Path, entry: KitFile, checksums: bool) -> str | None:
    try:
        expected = expected_name(entry.model, entry.kind)
    except ValueError as exc:
        return str(exc)
    if entry.name != expected:
        return f"ConvLens looks for {expected} for {entry.model}, not this file: make the kit again"
    path = folder / entry.name
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != entry.size:
        return f"{size:,} bytes where the manifest says {entry.size:,}: incomplete or replaced"
    if checksums:
        digest = weights.sha256_of(path)
        prefix = weights.expected_hash_prefix(entry.name)
        if prefix and not digest.startswith(prefix):
            return f"corrupt: its sha256 does not start with {prefix} as its name says"
        if digest != entry.sha256:
            return "corrupt: its sha256 differs from the manifest"
    return None


def verify(folder: str | Path, checksums: bool = True) -> KitReport:
    """Check every file of the kit in ``folder`` against its manifest.

    Args:
        folder: the kit.
        checksums: hash every file (slow for big kits); False checks presence, names and sizes only.
    """
    folder = Path(folder)
    try:
        files = read_manifest(folder)
    except ValueError as exc:
        return KitReport(folder, (), str(exc), checksums)
    return KitReport(folder, tuple(FileCheck(f, _problem(folder, f, checksums)) for f in files), None, checksums)


def _write_manifest(folder: Path, files: Sequence[KitFile]) -> None:
    data = {"format": FORMAT, "files": [dataclasses.asdict(f) for f in sorted(files, key=lambda f: f.name)]}
    tmp = folder / f".{MANIFEST}.partial"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, folder / MANIFEST)


def _source(model: str, kind: str, name: str, mirror: str | None) -> str:
    """Where to fetch ``name`` from: the mirror, a copy already in the torch hub cache, or the official URL."""
    if mirror is not None:
        base = Path(mirror).resolve().as_uri() if "://" not in mirror else mirror.rstrip("/")
        return f"{base}/{name}"
    if kind == CLASSIFIER and (weights.hub_checkpoints_dir() / name).is_file():
        return (weights.hub_checkpoints_dir() / name).resolve().as_uri()
    return YOLO_WEIGHTS[model] if kind == YOLO else zoo.model_card(model).weights_url


def download(
    folder: str | Path,
    models: Sequence[str] = (zoo.DEFAULT_KEY,),
    yolo: Sequence[str] = (DEFAULT_YOLO,),
    mirror: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> KitReport:
    """Fetch the weights of ``models`` (zoo keys) and ``yolo`` (YOLO names) into ``folder`` with a manifest.

    Files already in the kit and intact are kept; files in the torch hub cache are copied. Entries
    that fail their checks stay in the manifest (so ``verify`` names them) until fetched again.

    Args:
        folder: the kit (created if needed); running again adds to it.
        models: zoo keys, or ``["all"]`` for every zoo model with published weights.
        yolo: keys of :data:`core.detection.yolo.YOLO_WEIGHTS`, or ``["all"]``.
        mirror: a URL or folder holding the files under their official names, used instead of the internet.
        progress: called with (file name, bytes done, bytes total or 0).

    Raises:
        ValueError: an unknown model name (nothing is fetched).
        WeightsUnavailable: some files could not be fetched; the message names each, and the kit keeps the others.
    """
    folder = Path(folder)
    if list(models) == ["all"]:
        models = downloadable_models()
    if list(yolo) == ["all"]:
        yolo = list(YOLO_WEIGHTS)
    wanted = [(m, CLASSIFIER, expected_name(m, CLASSIFIER)) for m in models]
    wanted += [(m, YOLO, expected_name(m, YOLO)) for m in yolo]
    folder.mkdir(parents=True, exist_ok=True)
    old = verify(folder).checks
    entries = {check.file.name: check.file for check in old}
    intact = {check.file.name for check in old if check.problem is None}
    failures = []
    for model, kind, name in wanted:
        if name in intact:
            continue
        report = None if progress is None else lambda done, total, name=name: progress(name, done, total)
        try:
            weights.download_file(_source(model, kind, name, mirror), folder / name, report)
        except WeightsUnavailable as exc:
            failures.append(str(exc))
            continue
        path = folder / name
        entries[name] = KitFile(name, model, kind, path.stat().st_size, weights.sha256_of(path))
        _write_manifest(folder, list(entries.values()))
    _write_manifest(folder, list(entries.values()))
    if failures:
        raise WeightsUnavailable(
            f"{len(failures)} file(s) could not be fetched: " + " ".join(failures) + " Run the command again to retry."
        )
    return verify(folder)


def _print_progress(name: str, done: int, total: int) -> None:
    size = f"{done / 2**20:.0f} of {total / 2**20:.0f} MB" if total else f"{done / 2**20:.0f} MB"
    print(f"\r{name}: {size}", end="\n" if done == total else "", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0 when the kit is complete and intact)."""
    parser = argparse.ArgumentParser(prog="python -m core.kit", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("download", help="fetch weights into a kit folder (needs internet or --mirror)")
    get.add_argument("folder", type=Path)
    models, yolo = " ".join(downloadable_models()), " ".join(YOLO_WEIGHTS)
    get.add_argument("--models", nargs="*", default=[zoo.DEFAULT_KEY], help=f"zoo keys or 'all': {models}")
    get.add_argument("--yolo", nargs="*", default=[DEFAULT_YOLO], help=f"YOLO models or 'all': {yolo}")
    get.add_argument("--mirror", help="a URL or folder with the files under their official names")
    check = commands.add_parser("verify", help="check a kit folder against its manifest")
    check.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            report = download(args.folder, args.models, args.yolo, args.mirror, _print_progress)
        else:
            report = verify(args.folder)
    except (ValueError, WeightsUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    if report.ok:
        print(f"Kit OK. Start the app with CONVLENS_WEIGHTS_DIR={report.folder.resolve()}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
