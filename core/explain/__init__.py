"""Why a model answered: Grad-CAM (ours, batched), the Captum methods, and the randomisation check."""

from core.explain.gradcam import GradCam, LayerChoices, LayerMaps, default_layer, grad_cam, layer_choices, model_view
from core.explain.gradcam import explain as grad_cams
from core.explain.methods import METHODS, Attribution, Options, attribute
from core.explain.sanity import SanityCheck, cascade_groups, cascading_randomization, similarity_figure

__all__ = [
    "METHODS",
    "Attribution",
    "GradCam",
    "LayerChoices",
    "LayerMaps",
    "Options",
    "SanityCheck",
    "attribute",
    "cascade_groups",
    "cascading_randomization",
    "default_layer",
    "grad_cam",
    "grad_cams",
    "layer_choices",
    "model_view",
    "similarity_figure",
]
