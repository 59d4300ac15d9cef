"""Every benchmark in one table: ``.venv/bin/python -m bench`` (or ``make bench``).

Each row is one of our figures beside a peer measured in the same run, with the ratio.
"""

from __future__ import annotations

import importlib
import sys

from bench.common import table

MODULES = ["startup", "zoo", "features", "units", "gradcam", "pictures", "transfer", "detection", "batching"]


def main(names: list[str]) -> None:
    rows = []
    for name in names or MODULES:
        print(f"running bench.{name} ...", file=sys.stderr, flush=True)
        rows.extend(importlib.import_module(f"bench.{name}").rows())
    print(table(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
