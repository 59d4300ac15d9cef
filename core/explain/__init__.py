"""Why a model answered: attribution methods as objects (Grad-CAM ours and batched, the Captum
methods), the layers Grad-CAM offers, and the randomisation check."""

from core.explain.attributor import Attributor, Cost
from core.explain.captum_methods import GuidedGradCAM, IntegratedGradients, Occlusion, Options, Saliency
from core.explain.gradcam import GradCAM, GradCamResult, LayerMaps, grad_cam, grad_cams
from core.explain.methods import METHODS, Attribution, attribute, from_grad_cam
from core.explain.sanity import SanityCheck, cascade_groups, cascading_randomization, similarity_figure, verdict
from core.explain.scales import ScaledMaps, scale_maps, shared_scale
from core.explain.target_layers import LayerChoices, default_layer, layer_choices, layer_words, model_view
from core.explain.timing import PassTimes, measure_passes

__all__ = [
    "METHODS",
    "Attribution",
    "Attributor",
    "Cost",
    "GradCAM",
    "GradCamResult",
    "GuidedGradCAM",
    "IntegratedGradients",
    "LayerChoices",
    "LayerMaps",
    "Occlusion",
    "Options",
    "PassTimes",
    "Saliency",
    "SanityCheck",
    "ScaledMaps",
    "attribute",
    "cascade_groups",
    "cascading_randomization",
    "default_layer",
    "from_grad_cam",
    "grad_cam",
    "grad_cams",
    "layer_choices",
    "layer_words",
    "measure_passes",
    "model_view",
    "scale_maps",
    "shared_scale",
    "similarity_figure",
    "verdict",
]
