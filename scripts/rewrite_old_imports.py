"""Rewrite imports of core's old flat modules (``core.zoo``, ``from core import yolo``...) to the packages.

For merging branches that were cut before the reshaping (issue 13): run it on the files a merge
brings in, then ``ruff check --fix`` (import order) and ``lint-imports`` (pages must then be moved
to the façades by hand). Names that changed module, not only path, are listed in MOVED_NAMES.
Delete this script once no such branch is left.

    .venv/bin/python scripts/rewrite_old_imports.py FILE...
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OLD_TO_NEW = {
    "settings": "config.settings",
    "limits": "config.limits",
    "device": "config.device",
    "images": "io.images",
    "assets": "io.assets",
    "hooks": "util.hooks",
    "render": "viz.render",
    "zoo": "models.registry",
    "classroom": "models.classroom",
    "weights": "models.weights",
    "models": "models.loading",
    "classify": "models.classify",
    "architecture": "models.layer_table",
    "charts": "models.charts",
    "datasets": "datasets.folders",
    "dataset_zip": "datasets.uploads",
    "shapes": "datasets.shapes",
    "dataset_tensors": "datasets.tensors",
    "activations": "features.capture",
    "conv_arithmetic": "features.conv_arithmetic",
    "feature_views": "features.pictures",
    "attribution": "explain.gradcam",
    "attribution_methods": "explain.methods",
    "sanity": "explain.sanity",
    "transfer": "transfer.strategies",
    "transfer_train": "transfer.loop",
    "runs": "transfer.store",
    "run_manager": "transfer.supervisor",
    "transfer_job": "transfer.worker",
    "transfer_results": "transfer.results",
    "transfer_charts": "transfer.charts",
    "boxes": "detection.boxes",
    "det_metrics": "detection.metrics",
    "yolo": "detection.yolo",
    "det_render": "detection.pictures",
    "bounded_cache": "util.bounded_cache",
    "run_slots": "util.slots",
    "quiet": "detection.quiet",
}
# Names that left their old module (fix these imports by hand if the script's output fails).
MOVED_NAMES = {
    "core.zoo.default_key": "core.models.weights.default_key",
    "core.models.ModelCache": "core.util.cache.ModelCache",
    "core.runs.write_atomic": "core.util.files.write_atomic",
    "core.charts.FONT": "core.viz.theme.FONT",
    "core.charts.styled": "core.viz.theme.styled",
    "core.classroom.card": "core.models.registry._classroom_card",
    "core.classroom.ENTRY": "core.models.registry._CLASSROOM",
}

# Old modules whose name is now a package (models, datasets, transfer) are left alone: their
# façades export the old names, and rewriting them would break already-new paths (not idempotent).
PACKAGES = {"models", "datasets", "transfer"}
_REWRITTEN = sorted(set(OLD_TO_NEW) - PACKAGES, key=len, reverse=True)
_DOTTED = re.compile(rf"\bcore\.({'|'.join(_REWRITTEN)})\b(?![\w])")
_FROM_CORE = re.compile(r"^(\s*)from core import ([^\n(#]+?)(\s*#.*)?$", re.M)


def _from_core(match: re.Match) -> str:
    indent, items, comment = match.group(1), match.group(2), match.group(3) or ""
    keep, lines = [], []
    for item in (s.strip() for s in items.split(",") if s.strip()):
        name, _, alias = (part.strip() for part in item.partition(" as "))
        alias = alias or name
        if name in OLD_TO_NEW and name not in PACKAGES:
            package, module = OLD_TO_NEW[name].rsplit(".", 1)
            lines.append(f"{indent}from core.{package} import {module}" + ("" if module == alias else f" as {alias}"))
        else:
            keep.append(item)
    if keep:
        lines.insert(0, f"{indent}from core import {', '.join(keep)}")
    return "\n".join(lines) + comment


def rewrite(text: str) -> str:
    """``text`` with every old module path replaced (dotted paths first, then ``from core import``)."""
    return _FROM_CORE.sub(_from_core, _DOTTED.sub(lambda m: "core." + OLD_TO_NEW[m.group(1)], text))


def main(paths: list[str]) -> int:
    for path in map(Path, paths):
        text = path.read_text()
        new = rewrite(text)
        if new != text:
            path.write_text(new)
            print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
