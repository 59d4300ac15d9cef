"""Model zoo: the chosen architecture's card, its predictions, the zoo chart and its layers."""

import streamlit as st

from core import models, safe_text, serving
from core.models import topk_figure, zoo_figure
from dashboard import compare, exports, presenter, ui

key = ui.selected_model_key()
card = models.model_card(key)
st.title(f"Model zoo: {card.label}")
st.markdown(f"**{card.family}, {card.year}.** {card.idea}")
facts = st.empty()  # one line of facts, filled once the weights are known


def predictions(model: models.LoadedModel, image, caption: str, chart_key: str) -> None:
    """The model's top-5 on the image: the chart, the most likely class, and the note on few classes."""
    with ui.user_errors("Classification"):
        result = serving.classify(model, image, k=5)  # shared by every session, batched
        best = result.top[0]
        st.plotly_chart(topk_figure(result), width="stretch", key=chart_key)
        st.markdown(
            f"Top-5 of {safe_text.markdown(result.model)} on {safe_text.markdown(caption)}: most likely "
            f"**{safe_text.markdown(best.label)}** ({best.probability:.1%}); "
            f"{result.forward_ms:.0f} ms on {result.device.upper()}."
        )
        st.download_button(
            "Top-5 (CSV)",
            models.predictions_csv(result),
            file_name=f"top5_{model.key}.csv",
            mime="text/csv",
            key=f"{chart_key}_csv",
            icon=":material/download:",
            on_click="ignore",
        )
        if note := models.vocabulary_note(model.card, caption):
            st.info(note, icon=":material/category:")
        untrained = " · untrained" if not model.trained else ""
        exports.record(
            exports.Shown(
                image,
                f"Top-5 of {result.model}{untrained} on {caption}",
                (f"model: {result.model}", f"image: {caption}", f"most likely: {best.label} ({best.probability:.1%})"),
                None,
                not model.trained,
                "What did the model answer, and was it right?",
            )
        )


picked = ui.selected_image()
model = ui.selected_model()
facts.caption(models.card_facts(card, model is None or model.trained))
if picked is not None and model is not None:
    image, caption = picked
    ui.untrained_badge(model)
    controls, picture = presenter.split((2, 1))
    with controls:
        second = compare.second_model("zoo")
        st.image(image, caption=safe_text.markdown(caption), width=260 if not presenter.on() else "stretch")
    with picture:
        if second is None:
            predictions(model, image, caption, "zoo_topk")
        else:
            one, two = st.columns(2)
            with one:
                predictions(model, image, caption, "zoo_topk")
            with two:
                predictions(second, image, caption, "zoo_topk_2")
        presenter.notice("zoo", "predictions")

st.subheader("Accuracy against cost")
st.plotly_chart(zoo_figure(models.zoo_cards(), highlight=key), width="stretch", key="zoo_chart")
st.caption(
    "Bubble area grows with the number of parameters; the chosen model has a thick outline. "
    "Accuracies are the published ones, for the pretrained weights."
)
presenter.notice("zoo", "chart")

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
