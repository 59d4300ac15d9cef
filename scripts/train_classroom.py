"""Train the classroom model (Tiny VGG on ConvLens shapes) reproducibly and write assets/classroom/.

Run from the repository root (minutes on 2 CPU cores; see assets/classroom/README.md)::

    .venv/bin/python -m scripts.train_classroom          # train, write assets/classroom/
    .venv/bin/python -m scripts.train_classroom --check  # accuracy and Grad-CAM of the shipped model

The same seed gives the same data, the same initial weights and the same batch order, so
the same losses on the same machine and thread count. ``--out`` writes elsewhere (the app
reads ``assets/classroom/``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from bench.common import machine
from core.datasets.shapes import BASE_CLASSES, ShapeSet, generate
from core.explain.gradcam import default_layer, grad_cam
from core.models.classroom import CLASSROOM_DIR, IMAGE_SIZE, KEY, METADATA_PATH, WEIGHTS_PATH, TinyVGG
from core.models.loading import LoadedModel, get_model


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights."""

    seed: int = 0
    per_class_train: int = 1000
    per_class_val: int = 200
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3


@dataclass(frozen=True)
class TrainResult:
    """What a run measured."""

    epoch_losses: tuple[float, ...]
    val_top1: float  # percent
    val_top5: float  # percent
    mean: tuple[float, ...]
    std: tuple[float, ...]
    generate_seconds: float
    train_seconds: float


def to_batch(images: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 to normalised (N, 3, H, W) float32, as the model's transforms do for a PIL image."""
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    return (pixels - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


def evaluate(model: nn.Module, data: ShapeSet, mean: torch.Tensor, std: torch.Tensor) -> tuple[float, float]:
    """Top-1 and top-5 accuracy in percent."""
    top1 = top5 = 0
    with torch.inference_mode():
        for start in range(0, len(data.labels), 500):
            logits = model(to_batch(data.images[start : start + 500], mean, std))
            labels = torch.from_numpy(data.labels[start : start + 500])
            ranked = logits.topk(min(5, logits.shape[1]), dim=1).indices
            top1 += int((ranked[:, 0] == labels).sum())
            top5 += int((ranked == labels[:, None]).any(dim=1).sum())
    return 100 * top1 / len(data.labels), 100 * top5 / len(data.labels)


def fold_batch_norm(model: TinyVGG) -> TinyVGG:
    """The same function (in eval mode) without BatchNorm: each one's scale and shift moved into its convolution."""
    plain = TinyVGG(model.classifier.out_features, model.channels, pooled_blocks=model.pooled_blocks, convs=model.convs)
    state = {f"classifier.{k}": v for k, v in model.classifier.state_dict().items()}
    with torch.no_grad():
        for name, conv in model.features.named_children():
            if isinstance(conv, nn.Conv2d):
                norm = model.features.get_submodule(name.replace("conv", "bn"))
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                state[f"features.{name}.weight"] = conv.weight * scale[:, None, None, None]
                state[f"features.{name}.bias"] = (conv.bias - norm.running_mean) * scale + norm.bias
    plain.load_state_dict(state)
    return plain.eval()


def train(config: TrainConfig, log: Callable[[str], None] = print) -> tuple[TinyVGG, TrainResult]:
    """Generate the data, train Tiny VGG (with BatchNorm) with Adam and a one-cycle schedule, fold, evaluate."""
    start = time.perf_counter()
    train_set = generate(BASE_CLASSES, config.per_class_train, config.seed, "train", IMAGE_SIZE)
    val_set = generate(BASE_CLASSES, config.per_class_val, config.seed, "val", IMAGE_SIZE)
    generated = time.perf_counter()
    pixels = train_set.images.reshape(-1, 3).astype(np.float64) / 255
    mean = torch.tensor(pixels.mean(axis=0).round(4), dtype=torch.float32)
    std = torch.tensor(pixels.std(axis=0).round(4), dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = TinyVGG(len(BASE_CLASSES), batch_norm=True)
    order = torch.Generator().manual_seed(config.seed)
    steps = -(-len(train_set.labels) // config.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, epochs=config.epochs, steps_per_epoch=steps)
    labels = torch.from_numpy(train_set.labels)
    losses = []
    for epoch in range(config.epochs):
        model.train()
        total = 0.0
        for batch in torch.randperm(len(labels), generator=order).split(config.batch_size):
            loss = nn.functional.cross_entropy(
                model(to_batch(train_set.images[batch.numpy()], mean, std)), labels[batch]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.detach().item() * len(batch)
        losses.append(total / len(labels))
        model.eval()
        top1, _ = evaluate(model, val_set, mean, std)
        log(f"epoch {epoch + 1}/{config.epochs}: loss {losses[-1]:.4f}, val top-1 {top1:.2f} %")
    model = fold_batch_norm(model.eval())
    top1, top5 = evaluate(model, val_set, mean, std)
    result = TrainResult(
        tuple(losses),
        top1,
        top5,
        tuple(mean.tolist()),
        tuple(std.tolist()),
        generated - start,
        time.perf_counter() - generated,
    )
    return model, result


def save(model: TinyVGG, result: TrainResult, config: TrainConfig, out: Path, command: str, cam: CamCheck) -> None:
    """Write the state dict and ``metadata.json`` (what :mod:`core.models.classroom` reads) into ``out``.

    ``cam`` is :func:`cam_check` on the held-out "test" split, recorded with the accuracy.
    """
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / WEIGHTS_PATH.name)
    meta = {
        "classes": list(BASE_CLASSES),
        "image_size": IMAGE_SIZE,
        "channels": list(model.channels),
        "pooled_blocks": model.pooled_blocks,
        "convs": list(model.convs),
        "mean": [round(v, 4) for v in result.mean],
        "std": [round(v, 4) for v in result.std],
        "val_top1": round(result.val_top1, 2),
        "val_top5": round(result.val_top5, 2),
        "val_images": config.per_class_val * len(BASE_CLASSES),
        "test_images": cam.images,
        "test_top1": round(100 * cam.accuracy, 2),
        "gradcam_peak_in_box": round(100 * cam.peak_in_box, 2),
        "gradcam_peak_within_cell": round(100 * cam.peak_within_cell, 2),
        "epoch_losses": [round(v, 5) for v in result.epoch_losses],
        "generate_seconds": round(result.generate_seconds, 1),
        "train_seconds": round(result.train_seconds, 1),
        "threads": torch.get_num_threads(),
        "machine": machine(),
        "config": dataclasses.asdict(config),
        "command": command,
    }
    (out / METADATA_PATH.name).write_text(json.dumps(meta, indent=2) + "\n")


@dataclass(frozen=True)
class CamCheck:
    """How a trained model does on held-out images, and where Grad-CAM lands (fractions of the images)."""

    images: int
    accuracy: float
    peak_in_box: float  # the Grad-CAM map's maximum lies in the object's box
    peak_within_cell: float  # ... within one cell of the map (its resolution) of the box

    def __str__(self) -> str:
        return (
            f"{self.images} held-out images: accuracy {self.accuracy:.1%}; Grad-CAM peak in the object's box "
            f"{self.peak_in_box:.1%}, within one map cell of it {self.peak_within_cell:.1%}"
        )


def off_centre(data: ShapeSet) -> ShapeSet:
    """The images whose object box leaves out the image's centre.

    Most objects cover the centre, so a map that always peaks in the middle would look right on
    them; on these it is always wrong.
    """
    x0, y0, x1, y1 = data.boxes.T
    middle = (data.images.shape[1] - 1) / 2
    keep = ~((x0 <= middle) & (middle < x1) & (y0 <= middle) & (middle < y1))
    return ShapeSet(data.images[keep], data.labels[keep], data.boxes[keep], data.classes)


def cam_check(module: nn.Module, batch: torch.Tensor, data: ShapeSet, lock: threading.RLock | None = None) -> CamCheck:
    """Classify the preprocessed ``batch`` of ``data`` and run Grad-CAM for the true classes at the default layer."""
    with torch.inference_mode():
        accuracy = float((module(batch).argmax(dim=1).cpu().numpy() == data.labels).mean())
    layer = default_layer(module, size=IMAGE_SIZE, lock=lock)
    maps = grad_cam(module, batch, data.labels.tolist(), layer, lock=lock)
    ys, xs = np.unravel_index(maps.reshape(len(maps), -1).argmax(axis=1), maps.shape[1:])
    x0, y0, x1, y1 = data.boxes.T
    cell = 2**module.pooled_blocks  # pixels per map cell: every pooled block halves the map

    def inside(margin: int) -> float:
        return float(((x0 - margin <= xs) & (xs < x1 + margin) & (y0 - margin <= ys) & (ys < y1 + margin)).mean())

    return CamCheck(len(maps), accuracy, inside(0), inside(cell))


def check(model: LoadedModel, data: ShapeSet) -> CamCheck:
    """Classify ``data`` and run Grad-CAM for the true classes at the Grad-CAM page's default layer."""
    batch = torch.stack([model.transforms(Image.fromarray(image)) for image in data.images]).to(model.device)
    return cam_check(model.module, batch, data, lock=model.lock)


def held_out_set(seed: int) -> ShapeSet:
    """The held-out images of ``--check`` and ``metadata.json``: 150 a class of the "test" split."""
    return generate(BASE_CLASSES, 150, seed, "test", IMAGE_SIZE)


def main(argv: list[str] | None = None) -> None:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m scripts.train_classroom", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=CLASSROOM_DIR, help="folder for the weights and metadata.json")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=float if field.type == "float" else int, default=getattr(defaults, field.name))
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch")
    parser.add_argument("--check", action="store_true", help="only check the shipped model on held-out images")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.check:
        held_out = held_out_set(args.seed)
        print(f"all: {check(get_model(KEY), held_out)}\noff-centre: {check(get_model(KEY), off_centre(held_out))}")
        return
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    model, result = train(config)
    held_out = held_out_set(config.seed)
    cam = cam_check(model, to_batch(held_out.images, torch.tensor(result.mean), torch.tensor(result.std)), held_out)
    argv = sys.argv[1:] if argv is None else argv
    save(model, result, config, args.out, " ".join([".venv/bin/python -m scripts.train_classroom", *argv]), cam)
    print(
        f"val top-1 {result.val_top1:.2f} %, training {result.train_seconds:.0f} s "
        f"(+ {result.generate_seconds:.0f} s generating data) -> {args.out}\n{cam}"
    )


if __name__ == "__main__":
    main()
