"""Embedding maps: why a frozen backbone works, seen as the dataset's features in 2-D.

The features are those the frozen transfer run computes once: the input of the model's
classifier head (:func:`core.transfer.loop.backbone_features`), one vector per image of the
train and val splits. They are projected to 2-D with PCA (an SVD) and t-SNE (scikit-learn),
and scored by how well they separate the classes without any training of the backbone:
k-nearest-neighbour accuracy on the val split (neighbours from the train split, cosine
distance) and a linear probe (logistic regression on the train split, scored on val).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core import safe_text
from core.datasets.folders import Dataset
from core.datasets.tensors import ImageTensors, Preprocess, decode_split
from core.models.loading import LoadedModel, get_model, private_view
from core.transfer.loop import backbone_features
from core.transfer.strategies import head_name

BATCH = 32
K = 5  # neighbours for the k-NN score
PCA_DIMS = 50  # t-SNE runs on this many principal components, as is customary
EXACT_BELOW = 150  # points: exact t-SNE below, Barnes-Hut above
Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class Features:
    """Backbone features of every decoded image: ``(N, D)`` float32, train rows first, then val."""

    model: str
    trained: bool
    classes: tuple[str, ...]
    features: np.ndarray
    labels: np.ndarray
    is_val: np.ndarray
    paths: tuple[Path, ...]


@dataclass(frozen=True, eq=False)
class EmbeddingMap:
    """The 2-D maps of one backbone's features and how separable the classes are.

    ``pca`` and ``tsne`` are ``(N, 2)``; ``knn_accuracy`` and ``probe_accuracy`` are
    fractions of the val split (None when a split is empty); ``explained`` is the share of
    variance on PCA's two axes.
    """

    features: Features
    pca: np.ndarray
    tsne: np.ndarray
    explained: tuple[float, float]
    knn_accuracy: float | None
    probe_accuracy: float | None
    k: int

    def csv(self, root: Path | None = None) -> str:
        """One row per image: file, class, split and both maps' coordinates."""
        lines = ["file,class,split,pca_x,pca_y,tsne_x,tsne_y"]
        f = self.features
        for i, path in enumerate(f.paths):
            name = str(path.relative_to(root)) if root is not None else path.name
            cells = [name, f.classes[f.labels[i]], "val" if f.is_val[i] else "train"]
            quoted = ['"' + str(safe_text.csv_cell(c)).replace('"', '""') + '"' for c in cells]
            numbers = [f"{v:.6g}" for v in (*self.pca[i], *self.tsne[i])]
            lines.append(",".join(quoted + numbers))
        return "\n".join(lines) + "\n"


def split_features(
    model: LoadedModel, split: ImageTensors, preprocess: Preprocess, progress: Progress | None = None
) -> np.ndarray:
    """The ``(N, D)`` features of one decoded split, in batches, on a private view of the shared model."""
    module = private_view(model)  # the hook on the head never reaches other sessions
    head = head_name(module)
    found = []
    for start in range(0, len(split), BATCH):
        batch = preprocess.batch(split.images[start : start + BATCH].to(model.device))
        found.append(backbone_features(module, head, batch).cpu().numpy())
        if progress is not None:
            progress(min(start + BATCH, len(split)), len(split))
    return np.concatenate(found) if found else np.zeros((0, 0), np.float32)


def dataset_features(model: LoadedModel, dataset: Dataset, size: int, progress: Progress | None = None) -> Features:
    """Decode ``dataset`` once at ``size`` px (the model's preprocessing) and compute every image's features.

    ``progress`` is called with (steps done, total steps): decoding each image, then its features.

    Raises:
        ValueError: the dataset has fewer than two readable images, or ``size`` is too small.
    """
    preprocess = Preprocess.for_model(model.transforms, size)
    total = 2 * (len(dataset.train) + len(dataset.val))

    def offset(start: int) -> Progress | None:
        return None if progress is None else lambda done, _total: progress(start + done, total)

    train = decode_split(dataset.train, preprocess, dataset.root, offset(0))
    val = decode_split(dataset.val, preprocess, dataset.root, offset(len(dataset.train)))
    if len(train) + len(val) < 2:
        raise ValueError(f"dataset {dataset.name!r} has fewer than 2 readable images; add images to map it.")
    half = total // 2
    parts = [split_features(model, train, preprocess, offset(half))] if len(train) else []
    if len(val):
        parts.append(split_features(model, val, preprocess, offset(half + len(dataset.train))))
    return Features(
        model.display_name,
        model.trained,
        dataset.classes,
        np.concatenate(parts).astype(np.float32),
        np.concatenate([train.labels.numpy(), val.labels.numpy()]).astype(np.int64),
        np.r_[np.zeros(len(train), bool), np.ones(len(val), bool)],
        (*train.paths, *val.paths),
    )


def pca_2d(x: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The first ``dims`` principal components of ``x`` (centred) and their shares of the variance.

    Signs are fixed (the largest loading of each axis positive), so the map is deterministic.
    """
    centred = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    dims = min(dims, len(s))
    signs = np.sign(vt[np.arange(dims), np.abs(vt[:dims]).argmax(axis=1)])
    signs[signs == 0] = 1
    coords = u[:, :dims] * s[:dims] * signs
    total = (s**2).sum()
    shares = (s[:dims] ** 2) / total if total > 0 else np.zeros(dims)
    return coords, shares


def tsne_2d(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE (scikit-learn, PCA initialisation, fixed seed) of ``x`` after reducing it to :data:`PCA_DIMS`.

    Its OpenMP threads are capped at half of torch's: on a shared server, more threads waiting
    for busy cores made it 8x slower. Small sets use the exact method (faster below ~150 points).
    """
    from sklearn.manifold import TSNE  # imported on first use: keeps the app's start-up fast
    from threadpoolctl import threadpool_limits

    n = len(x)
    if n < 4:
        return pca_2d(x)[0]
    reduced, _ = pca_2d(x, PCA_DIMS)
    method = "exact" if n < EXACT_BELOW else "barnes_hut"
    tsne = TSNE(2, perplexity=float(min(30.0, (n - 1) / 3)), init="pca", random_state=seed, method=method)
    with threadpool_limits(limits=max(1, torch.get_num_threads() // 2)):
        return tsne.fit_transform(reduced)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x, dtype=np.float64), where=norms > 0)


def knn_accuracy(train: np.ndarray, train_y: np.ndarray, val: np.ndarray, val_y: np.ndarray, k: int = K) -> float:
    """Share of val rows whose ``k`` nearest train rows (cosine) vote for their class.

    A tie between classes goes to the class of the nearest neighbour among the tied ones.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    if not len(train) or not len(val):
        raise ValueError("knn_accuracy needs at least one train and one val row.")
    k = min(k, len(train))
    similarity = _unit(val) @ _unit(train).T
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    correct = 0
    for row, truth in zip(nearest, val_y, strict=True):
        votes = train_y[row]
        counts = np.bincount(votes)
        tied = np.flatnonzero(counts == counts.max())
        predicted = next(v for v in votes if v in tied)
        correct += int(predicted == truth)
    return correct / len(val)


def probe_accuracy(train: np.ndarray, train_y: np.ndarray, val: np.ndarray, val_y: np.ndarray) -> float:
    """Val accuracy of a logistic regression trained on standardised train features (a linear probe)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(train_y)) < 2:
        raise ValueError("probe_accuracy needs at least two classes in the train split.")
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe = LogisticRegression(max_iter=500).fit((train - mean) / std, train_y)
    return float((probe.predict((val - mean) / std) == val_y).mean())


def embedding_map(features: Features, k: int = K, seed: int = 0) -> EmbeddingMap:
    """Project ``features`` with PCA and t-SNE and score how well they separate the classes."""
    x, y, val = features.features, features.labels, features.is_val
    pca, shares = pca_2d(x)
    if pca.shape[1] < 2:
        pca = np.pad(pca, ((0, 0), (0, 2 - pca.shape[1])))
        shares = np.pad(shares, (0, 2 - len(shares)))
    knn = probe = None
    if val.any() and (~val).any():
        knn = knn_accuracy(x[~val], y[~val], x[val], y[val], k)
        if len(np.unique(y[~val])) >= 2:
            probe = probe_accuracy(x[~val], y[~val], x[val], y[val])
    tsne = tsne_2d(x, seed)
    return EmbeddingMap(
        features, pca, np.asarray(tsne, dtype=np.float64), (float(shares[0]), float(shares[1])), knn, probe, k
    )


def backbone_map(
    key: str, pretrained: bool, dataset: Dataset, size: int, progress: Progress | None = None
) -> EmbeddingMap:
    """The embedding map of zoo model ``key``'s backbone (published or seeded random weights) on ``dataset``.

    Raises:
        WeightsUnavailable: ``pretrained`` and the weights are not on this machine.
        ValueError: see :func:`dataset_features`.
    """
    model = get_model(key, pretrained=pretrained)
    return embedding_map(dataset_features(model, dataset, size, progress))
