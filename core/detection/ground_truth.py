"""The ground truth the metrics use: label files to the editable table's rows, and its rows back to boxes.

The YOLO page starts a table of true boxes from label files (the shipped labels of the samples,
the user's own files, matched by :func:`core.detection.labels.match_labels`); the user edits it;
the edited rows are the truth every metric is computed against. An image with neither a label
file nor a row is unlabelled (``None``): its boxes are shown but not judged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.detection.boxes import GroundTruth, LabelIssue, ground_truth_from_rows, parse_yolo_labels, truth_rows
from core.detection.labels import ImageRef, match_labels
from core.detection.yolo import DetectionBatch
from core.errors import ConvLensError


@dataclass(frozen=True)
class Sized:
    """An image of the page as the ground truth needs it: its name, whether it is a shipped sample, its size."""

    name: str
    sample: bool
    size: tuple[int, int]  # (width, height) in pixels


@dataclass(frozen=True)
class TruthTable:
    """The table of true boxes the label files give, before the user edits it."""

    rows: tuple[dict[str, object], ...]  # one box a row (:data:`core.detection.TRUTH_COLUMNS`)
    labelled: frozenset[str]  # images that have a label file (judged even when all its rows are deleted)
    issues: tuple[tuple[str, tuple[LabelIssue, ...]], ...]  # (label file, its skipped lines)
    errors: tuple[str, ...]  # label files that could not be read at all, with why
    unmatched: tuple[str, ...]  # the user's label files that no image matches
    origin: str  # identifies this table: edits are kept for it, and dropped when the inputs change


def rows_digest(rows: Sequence[Mapping[str, object]], *more: str) -> str:
    """A short content hash of table rows (and ``more`` strings): a key for the table a user edits."""
    text = json.dumps([dict(r) for r in rows], sort_keys=True, default=str) + "|" + "|".join(more)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def truth_table(
    images: Sequence[Sized],
    user_files: Mapping[str, bytes | str] | None = None,
    *,
    shipped: bool = True,
    names: Mapping[int, str],
) -> TruthTable:
    """The rows the label files give for ``images``: shipped labels (samples only, when ``shipped``) and the user's.

    The user's files are matched by stem and win over the shipped ones; bytes are read as UTF-8.
    """
    texts = {
        name: data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
        for name, data in (user_files or {}).items()
    }
    found = match_labels([ImageRef(i.name, i.sample) for i in images], texts, shipped=shipped, names=names)
    rows, issues, errors = [], [], []
    for image in images:
        if image.name not in found.texts:
            continue
        source = found.sources[image.name]
        try:
            labels = parse_yolo_labels(found.texts[image.name], names, source=source)
        except (ConvLensError, ValueError) as exc:  # too long: this file is skipped, the others are used
            errors.append(str(exc))
            continue
        if labels.issues:
            issues.append((source, labels.issues))
        rows += truth_rows(image.name, labels.to_ground_truth(*image.size), names)
    origin = rows_digest(rows, *(i.name for i in images))
    return TruthTable(tuple(rows), frozenset(found.texts), tuple(issues), tuple(errors), found.unmatched, origin)


@dataclass(frozen=True, eq=False)
class Truths:
    """The ground truth per image (``None``: unlabelled) and the rows that were skipped, per image."""

    truths: tuple[GroundTruth | None, ...]
    issues: tuple[tuple[str, tuple[LabelIssue, ...]], ...]  # (image name, its skipped rows)


def truths_from_table(
    records: Sequence[Mapping[str, object]],
    images: Sequence[Sized],
    names: Mapping[int, str],
    labelled: frozenset[str] | set[str],
) -> Truths:
    """Each image's true boxes from the edited table's rows; an image with no row and no label file is unlabelled."""
    truths, issues = [], []
    for image in images:
        mine = [r for r in records if r.get("image") == image.name]
        truth, skipped = ground_truth_from_rows(mine, names, *image.size)
        if skipped:
            issues.append((image.name, skipped))
        truths.append(truth if mine or image.name in labelled else None)
    return Truths(tuple(truths), tuple(issues))


def results_key(batch: DetectionBatch, truths: Sequence[GroundTruth | None]) -> str:
    """A content hash of the raw detections and the ground truth: what the judged results depend on.

    Sessions with equal keys (and equal thresholds) share the judged report and its pictures.
    """
    parts = [a for d in batch.detections for a in (d.boxes, d.scores, d.classes)]
    parts += [a for t in truths if t is not None for a in (t.boxes, t.classes)]
    hasher = hashlib.blake2b(digest_size=16)
    hasher.update(f"{sorted(batch.names.items())}|{[t is None for t in truths]}".encode())
    for array in parts:
        array = np.ascontiguousarray(array)
        hasher.update(f"{array.dtype}{array.shape}".encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()
