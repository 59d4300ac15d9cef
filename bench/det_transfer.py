"""The detection lesson at its default settings: time per epoch and val mAP50 of each strategy.

A real run through :func:`core.detection_lab.runs.start_det_run` (worker process, Ultralytics offline)
on the generated lesson set (ring, arrow, checker: classes new to the classroom detector),
starting from the shipped classroom detector. The peer is the same lesson trained from scratch
(the model's yaml): same data, seed, image size and epochs, in the same run.

    .venv/bin/python -m bench.det_transfer [epochs]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from bench.common import Row, machine, table
from core.detection.yolo_data import generated_det_dataset
from core.detection_lab.runs import DET_STRATEGIES, DetRunConfig, read_det_run, start_det_run


def main(epochs: int = 5) -> None:
    os.environ.setdefault("CONVLENS_HOME", tempfile.mkdtemp(prefix="convlens-bench-"))
    dataset = generated_det_dataset()
    config = DetRunConfig(str(dataset), strategies=("frozen", "finetune", "scratch"), epochs=epochs)
    path = start_det_run(config, owner="bench")
    while (record := read_det_run(path)).status.active:
        time.sleep(2)
    print(f"{machine()}; run {record.status.state}: {record.status.message}")
    per_epoch, best = {}, {}
    for key, strategy in record.strategies.items():
        per_epoch[key] = (strategy.seconds or 0.0) / max(strategy.last_good_epoch, 1)
        best[key] = max((e.map50 for e in strategy.history), default=0.0)
        print(f"{DET_STRATEGIES[key].label}: " + ", ".join(f"{e.map50:.3f}" for e in strategy.history) + " (mAP50)")
    rows = [
        Row(f"{DET_STRATEGIES[k].label}: s per epoch", per_epoch[k], "from scratch", per_epoch["scratch"], "-", "s")
        for k in ("frozen", "finetune")
    ]
    rows += [Row(f"{DET_STRATEGIES[k].label}: val mAP50", best[k], "from scratch", best["scratch"], "-", "")
             for k in ("frozen", "finetune")]  # fmt: skip
    print(table(rows))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
