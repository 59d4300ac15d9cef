"""Embedding maps: features as the frozen transfer run computes them, projections, separability scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core import safe_text
from core.datasets.folders import load_dataset
from core.datasets.tensors import decode_split
from core.models.loading import get_model
from core.transfer.embedding import (
    Features,
    dataset_features,
    embedding_map,
    knn_accuracy,
    pca_2d,
    probe_accuracy,
    tsne_2d,
)
from core.transfer.embedding_charts import embedding_figure
from core.util.hooks import hook_count
from tests import tiny_models
from tests.conftest import shared_path
from tests.tiny_datasets import make_dataset


def _knn_oracle(train, train_y, val, val_y, k) -> float:
    """Brute force, one pair at a time: cosine distances, sort, vote, ties to the nearest."""
    correct = 0
    for v, truth in zip(val, val_y, strict=True):
        distances = []
        for i, t in enumerate(train):
            cosine = float(np.dot(v, t) / (np.linalg.norm(v) * np.linalg.norm(t)))
            distances.append((1 - cosine, i))
        nearest = [train_y[i] for _, i in sorted(distances)[:k]]
        counts = {c: nearest.count(c) for c in set(nearest)}
        best = max(counts.values())
        correct += int(next(c for c in nearest if counts[c] == best) == truth)
    return correct / len(val)


@pytest.mark.parametrize("k", [1, 3, 4, 7])
def test_knn_accuracy_equals_a_brute_force_oracle(k: int) -> None:
    rng = np.random.default_rng(k)
    train, val = rng.normal(size=(40, 6)), rng.normal(size=(25, 6))
    train_y, val_y = rng.integers(0, 3, 40), rng.integers(0, 3, 25)
    train[:, 0] += 2 * train_y  # partly separable: accuracies strictly between 0 and 1
    val[:, 0] += 2 * val_y
    assert knn_accuracy(train, train_y, val, val_y, k) == pytest.approx(_knn_oracle(train, train_y, val, val_y, k))
    with pytest.raises(ValueError, match="k must be at least 1"):
        knn_accuracy(train, train_y, val, val_y, 0)


def test_pca_matches_the_covariance_eigenvectors_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1])
    coords, shares = pca_2d(x)
    values, vectors = np.linalg.eigh(np.cov(x.T))
    top = vectors[:, ::-1][:, :2]
    centred = x - x.mean(axis=0)
    np.testing.assert_allclose(np.abs(coords), np.abs(centred @ top), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(shares, values[::-1][:2] / values.sum(), rtol=1e-8)
    np.testing.assert_array_equal(coords, pca_2d(x.copy())[0])
    assert coords.shape == (60, 2)


def test_tsne_shape_and_determinism() -> None:
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(size=(20, 8)), rng.normal(size=(20, 8)) + 6]
    first, second = tsne_2d(x, seed=3), tsne_2d(x, seed=3)
    assert first.shape == (40, 2)
    np.testing.assert_array_equal(first, second)
    assert tsne_2d(x[:3]).shape == (3, 2)  # too few points for t-SNE: PCA instead


def test_linear_probe_separates_separable_features() -> None:
    rng = np.random.default_rng(2)
    y = np.arange(40) % 2
    x = rng.normal(size=(40, 4)) + 4 * y[:, None]
    assert probe_accuracy(x[:30], y[:30], x[30:], y[30:]) == 1.0
    with pytest.raises(ValueError, match="two classes"):
        probe_accuracy(x[:30], np.zeros(30, int), x[30:], y[30:])


@pytest.fixture
def tiny_key():
    with tiny_models.registered() as key:
        yield key


def test_features_are_the_head_input_and_the_shared_model_keeps_no_hook(tiny_key: str, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"ants": 6, "bees": 5}, {"ants": 3, "bees": 4}, size=24)
    dataset = load_dataset(root)
    model = get_model(tiny_key, pretrained=False)
    before = hook_count(model.module)
    features = dataset_features(model, dataset, 16)
    assert hook_count(model.module) == before
    assert features.features.shape == (18, 8) and features.is_val.sum() == 7
    assert list(features.labels[:11]) == [0] * 6 + [1] * 5 and features.classes == ("ants", "bees")
    from core.datasets.tensors import Preprocess

    preprocess = Preprocess.for_model(model.transforms, 16)
    val = decode_split(dataset.val, preprocess, dataset.root)
    net = model.module
    with torch.no_grad():  # the oracle: the tiny net's own layers up to its head
        expected = net.pool(net.block(net.stem(preprocess.batch(val.images)))).flatten(1)
    np.testing.assert_allclose(features.features[11:], expected.numpy(), rtol=1e-5, atol=1e-6)

    emb = embedding_map(features)
    assert emb.pca.shape == emb.tsne.shape == (18, 2) and 0 <= emb.knn_accuracy <= 1
    assert emb.knn_accuracy == pytest.approx(
        _knn_oracle(features.features[:11], features.labels[:11], features.features[11:], features.labels[11:], 5)
    )
    again = embedding_map(features)
    np.testing.assert_array_equal(emb.tsne, again.tsne)
    rows = emb.csv(root).splitlines()
    assert rows[0] == "file,class,split,pca_x,pca_y,tsne_x,tsne_y" and rows[1].startswith('"train/ants/ants_000.png"')


def test_user_names_are_text_in_the_figure() -> None:
    rng = np.random.default_rng(0)
    classes = ("<b>bold</b>", 'say "hi"')
    features = Features(
        "m", False, classes, rng.normal(size=(12, 4)).astype(np.float32), np.arange(12) % 2,
        np.arange(12) >= 8, tuple(Path(f"<img src=x onerror=alert(1)>{i}.png") for i in range(12)),
    )  # fmt: skip
    emb = embedding_map(features)
    fig = embedding_figure(emb, "t-SNE", "title")
    assert [t.name for t in fig.data] == [safe_text.plotly(c) for c in classes]
    assert all("<img" not in str(row[0]) for t in fig.data for row in t.customdata)
    assert '"<b>bold</b>"' in emb.csv()
    formula = Features("m", False, ("=HYPERLINK(1)", "b"), features.features, features.labels, features.is_val,
                       features.paths)  # fmt: skip
    assert '"\'=HYPERLINK(1)"' in embedding_map(formula).csv()  # a spreadsheet shows it as text
    with pytest.raises(ValueError, match="method must be one of"):
        embedding_figure(emb, "UMAP", "title")


@pytest.mark.slow
def test_embedding_pretrained_separates() -> None:
    """On hymenoptera, EfficientNet-Lite0's ImageNet features separate ants from bees; random ones barely."""
    dataset = load_dataset(shared_path("data", "hymenoptera_data"))
    pretrained = embedding_map(dataset_features(get_model("efficientnet_lite0", pretrained=True), dataset, 160))
    random = embedding_map(dataset_features(get_model("efficientnet_lite0", pretrained=False), dataset, 160))
    # Measured at 160 px with the published state dict in the reference EfficientNet-Lite0 (mean 0.498,
    # std 0.502): pretrained k-NN 0.93 and probe 0.93; random weights k-NN 0.53, probe 0.56 (chance: 0.54).
    # ConvLens's EfficientNet-Lite0 after the merge (2026-12-04): pretrained k-NN 0.928, probe 0.928;
    # random weights k-NN 0.471, probe 0.542.
    assert pretrained.knn_accuracy >= 0.85 and random.knn_accuracy <= 0.70
    assert pretrained.knn_accuracy - random.knn_accuracy >= 0.20
    assert pretrained.probe_accuracy >= 0.85
