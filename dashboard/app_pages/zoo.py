"""Model zoo: the chosen architecture's card, its predictions, the zoo chart and its layers."""

import streamlit as st

from core import models, safe_text, serving
from core.models import topk_figure, zoo_figure
from dashboard import ui

key = ui.selected_model_key()
card = models.model_card(key)
st.title(f"Model zoo: {card.label}")
st.markdown(f"**{card.family}, {card.year}.** {card.idea}")

cols = st.columns(5)
cols[0].metric("Parameters", f"{card.params / 1e6:.1f} M" if card.params >= 1e5 else f"{card.params / 1e3:.1f} k")
cols[1].metric("Cost", f"{card.gflops:.3g} GFLOPs" if card.gflops else "-", help="Per image at the input size")
cols[2].metric("Top-1", f"{card.top1:.1f} %" if card.top1 else "-", help=f"{card.dataset} validation accuracy")
cols[3].metric("Top-5", f"{card.top5:.1f} %" if card.top5 else "-")
size = "-" if not card.file_mb else f"{card.file_mb:.0f} MB" if card.file_mb >= 1 else f"{card.file_mb * 1024:.0f} KB"
cols[4].metric("Weights file", size, help=card.weights_file or str(card.bundled_weights))

st.subheader("Predictions")
picked = ui.selected_image()
model = ui.selected_model()
if picked is not None and model is not None:
    image, caption = picked
    ui.untrained_badge(model)
    left, right = st.columns([2, 3])
    left.image(
        serving.encoded(serving.digest(image), ("input",), lambda: image),
        caption=safe_text.markdown(caption),
        width="stretch",
    )
    with right, ui.user_errors("Classification"):
        result = serving.classify(model, image, k=5)  # shared by every session, batched
        best = result.top[0]
        st.markdown(f"Most likely: **{safe_text.markdown(best.label)}** ({best.probability:.1%})")
        st.plotly_chart(serving.value(result, ("top-k",), lambda: topk_figure(result)), width="stretch", key="zoo_topk")
        st.caption(
            f"Top-5 of {result.model}; forward pass {result.forward_ms:.0f} ms on {result.device.upper()}, "
            f"input {'x'.join(map(str, result.input_shape[1:]))}."
        )

st.subheader("Accuracy against cost")
chart = serving.value(key, ("zoo chart",), lambda: zoo_figure(models.zoo_cards(), highlight=key))  # same for all
st.plotly_chart(chart, width="stretch", key="zoo_chart")
st.caption("Bubble area grows with the number of parameters; the chosen model has a thick outline.")

st.subheader(f"Layers of {card.label}")
rows = models.layer_table(key)
st.caption(
    f"{len(rows)} layers for one {card.crop_size}x{card.crop_size} image; output shapes are channels x height x width."
)
st.dataframe(
    [
        {
            "layer": r.name,
            "type": r.type,
            "settings": r.detail,
            "output": " x ".join(map(str, r.output_shape)),
            "parameters": r.params,
        }
        for r in rows
    ],
    hide_index=True,
    width="stretch",
    height=420,
)
