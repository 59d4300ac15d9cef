"""The sanity check for saliency maps (Adebayo et al., 2018): cascading randomisation.

Replace the model's weights with random ones, layer group by layer group from the output
down, and compare each new map with the original. A map that explains *this* model must
change as its weights are destroyed; a map that barely changes shows the image's edges, not
what the model learned. Weights are replaced on a private view of the model by assigning new
parameters, so the shared model is never written to.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image
from torch import nn

from core.explain.methods import Options, heatmap, method
from core.models.loading import LoadedModel, private_view
from core.viz.theme import FONT

MIN_GROUPS = 5  # group layers by name prefix, from the shortest prefix that gives at least this many


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (ties get their average rank); NaN when one is flat."""

    def ranks(values: np.ndarray) -> np.ndarray:
        _, inverse, counts = np.unique(values.ravel(), return_inverse=True, return_counts=True)
        ends = np.cumsum(counts)
        return (ends - (counts - 1) / 2)[inverse]

    ra, rb = ranks(np.asarray(a, dtype=np.float64)), ranks(np.asarray(b, dtype=np.float64))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def cascade_groups(module: nn.Module, max_steps: int = 8) -> list[tuple[str, list[str]]]:
    """Layers with weights, grouped and ordered from the output down: ``[(label, [layer names])]``.

    Layers are grouped by their name's first components (``layer4``, ``features.3``), using the
    shortest prefix that gives at least :data:`MIN_GROUPS` groups; neighbouring groups are then
    merged so that there are at most ``max_steps``.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}.")
    leaves = [name for name, sub in module.named_modules() if name and any(True for _ in sub.parameters(False))]
    if not leaves:
        raise ValueError(f"{type(module).__name__} has no weights to randomise.")
    depth, groups = 1, {}
    while True:
        groups = {}
        for name in reversed(leaves):  # registration order is forward order for the zoo
            groups.setdefault(".".join(name.split(".")[:depth]), []).append(name)
        if len(groups) >= MIN_GROUPS or depth > max(name.count(".") for name in leaves):
            break
        depth += 1
    chunks = np.array_split(np.arange(len(groups)), min(max_steps, len(groups)))
    labels, members = list(groups), list(groups.values())
    return [
        (
            labels[c[0]] if len(c) == 1 else f"{labels[c[0]]} … {labels[c[-1]]}",
            list(itertools.chain.from_iterable(members[i] for i in c)),
        )
        for c in chunks
    ]


def _randomise(module: nn.Module, names: list[str], generator: torch.Generator) -> None:
    """Give layers ``names`` new Gaussian weights with each tensor's own mean and spread.

    New ``nn.Parameter`` objects are assigned: the tensors they replace (shared) are untouched.
    """
    layers = dict(module.named_modules())
    for name in names:
        for pname, param in list(layers[name].named_parameters(recurse=False)):
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32).to(param.device, param.dtype)
            spread, mean = param.detach().float().std(correction=0), param.detach().float().mean()
            setattr(layers[name], pname, nn.Parameter(noise * spread + mean, requires_grad=False))


@dataclass(frozen=True)
class Stage:
    """The map after randomising the weights from the output down to ``label``."""

    label: str
    layers: int  # layers randomised so far
    heat: np.ndarray
    spearman: float  # rank correlation with the original map


@dataclass(frozen=True)
class SanityCheck:
    """The original map and the map after each step of cascading randomisation."""

    method: str
    target: int
    label: str
    layer: str
    original: np.ndarray
    stages: tuple[Stage, ...]


def cascading_randomization(
    model: LoadedModel,
    image: Image.Image,
    key: str,
    target: int,
    layer: str,
    max_steps: int = 6,
    seed: int = 0,
    options: Options | None = None,
) -> SanityCheck:
    """Method ``key``'s map of ``target`` as ``model``'s weights are randomised from the top down.

    Runs on a private view of the model (the shared weights are never written); deterministic
    for a given ``seed``. Costs ``max_steps + 1`` maps.
    """
    method(key)
    options = options or Options()
    view = private_view(model)
    batch = model.to_input(image)
    original = heatmap(view, batch, key, target, layer, options)
    generator = torch.Generator().manual_seed(seed)
    stages, done = [], 0
    for label, names in cascade_groups(view, max_steps):
        _randomise(view, names, generator)
        done += len(names)
        heat = heatmap(view, batch, key, target, layer, options)
        stages.append(Stage(label, done, heat, spearman(original, heat)))
    return SanityCheck(key, int(target), model.label(int(target)), layer, original, tuple(stages))


HARDLY_CHANGED = 0.8  # Spearman rho at or above this after full randomisation: the map ignores the weights
PARTLY_CHANGED = 0.3  # at or above this (and below the first): the map depends on the weights only in part


def verdict(check: SanityCheck, trained: bool = True) -> str:
    """What the check says in one sentence, from the rank correlation after every layer is randomised."""
    final = check.stages[-1].spearman if check.stages else float("nan")
    if np.isnan(final):
        said = "the map is flat (no positive evidence left), so it cannot be ranked against the original"
    elif final >= HARDLY_CHANGED:
        said = "the map hardly changed although the model is now random: it shows the image, not the model"
    elif final >= PARTLY_CHANGED:
        said = "the map changed only in part: some of it comes from the image or the architecture"
    else:
        said = "the map changed completely as the weights were destroyed: it depends on what the model learned"
    measured = "" if np.isnan(final) else f" (Spearman ρ = {final:.2f})"
    untrained = "" if trained else " This model is untrained: its map was random to begin with."
    return f"After randomising every layer{measured}, {said}.{untrained}"


def similarity_figure(check: SanityCheck) -> go.Figure:
    """Spearman correlation with the original map after each randomisation step."""
    labels = [f"{i + 1}. {s.label}" for i, s in enumerate(check.stages)]
    fig = go.Figure(
        go.Scatter(
            x=labels,
            y=[s.spearman for s in check.stages],
            mode="lines+markers",
            marker={"size": 12, "color": "#1f77b4"},
            line={"width": 3, "color": "#1f77b4"},
            hovertemplate="%{x}<br>Spearman %{y:.2f}<extra></extra>",
        )
    )
    fig.add_hline(y=0, line_dash="dot", line_color="#9e9e9e")
    fig.update_layout(
        xaxis={"title": "weights randomised from the output down to…"},
        yaxis={"title": "Spearman ρ with the original map", "range": [-1.05, 1.05]},
        font=FONT,
        height=380,
        margin={"t": 10, "l": 10, "r": 10, "b": 10},
    )
    return fig
