"""The "what to notice" line under each picture in presenter mode: all the texts, in one place."""

from __future__ import annotations

NOTICE: dict[tuple[str, str], str] = {
    ("zoo", "predictions"): "Notice how sure the model is: one tall bar means confident, a flat row means it guesses.",
    ("zoo", "chart"): "Notice: bigger (more parameters) is not always better; newer models sit up and to the left.",
    ("features", "maps"): "Notice: early maps look like the photo's edges; deeper maps are smaller, blurrier, more.",
    ("features", "depth"): "Notice: left to right the maps shrink while each unit sees more of the image.",
    ("gradcam", "map"): "Notice where the red is: is the network looking at the object, or at its background?",
    ("gradcam", "top3"): "Notice: each class lights up different evidence in the same picture.",
    ("gradcam", "depth"): "Notice: shallow maps are sharp but about edges; deep maps are coarse but about the class.",
    ("gradcam", "sanity"): "Notice: a faithful map must change when the weights are destroyed.",
    ("transfer", "results"): "Notice: frozen features learn fast from few images; fine-tuning can do better, slower.",
    ("detection", "picture"): "Notice: lower the confidence and more boxes appear - more found, but more wrong.",
}


def notice(page: str, view: str) -> str:
    """The line for ``page`` and ``view``; raises ValueError naming the known pairs when there is none."""
    try:
        return NOTICE[(page, view)]
    except KeyError:
        known = ", ".join(f"{p}/{v}" for p, v in NOTICE)
        raise ValueError(f"no 'what to notice' text for {page}/{view}; known: {known}.") from None
