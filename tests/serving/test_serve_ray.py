"""Ray Serve backend: the thin client gets the same answers as the embedded app, from a local Ray."""

from __future__ import annotations

import numpy as np
import pytest

from bench.serve import free_port
from core.explain.gradcam import grad_cams as explain
from core.explain.methods import Options, attribute
from core.explain.target_layers import layer_choices
from core.features.capture import capture
from core.io.assets import sample_images
from core.io.images import load_image
from core.models import get_model
from core.models.classification import classify
from core.models.weights import default_key
from core.serving import inference as serving
from tests.conftest import shared_path
from tests.serving.test_serving import together

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-serve.txt")
pytestmark = [
    pytest.mark.slow,
    # Ray Serve 2.60 itself still uses pydantic-1 style fields and deprecated asyncio calls.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    """A local Ray (2 CPUs) running the ConvLens application; its URL."""
    from ray import serve

    from core.serving.app import ROUTE, build_app

    home = tmp_path_factory.mktemp("ray_home")
    env = {"CONVLENS_HOME": str(home), "TORCH_HOME": str(home / "torch"), "CONVLENS_OFFLINE": "1", "YOLO_OFFLINE": "1"}
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    except Exception as exc:  # a sandbox without the ports or shared memory Ray needs
        pytest.skip(f"Ray cannot start here: {exc}")
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app(cpus=0.5, batch=8, wait_ms=20), name="convlens", route_prefix=ROUTE)
        yield f"http://127.0.0.1:{port}{ROUTE}"
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture
def remote(engine: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(serving.SERVE_ENV, engine)
    serving.CLASSIFICATIONS.clear()
    serving.GRADCAMS.clear()
    return engine


def test_classify_grad_cam_and_captures_equal_the_embedded_answers(remote: str) -> None:
    model = get_model(default_key())
    for name in ("cat", "coffee"):
        image = load_image(sample_images()[name])
        got, want = serving.classify(model, image, k=5), classify(model, image, k=5)
        assert [p.index for p in got.top] == [p.index for p in want.top]
        np.testing.assert_allclose([p.probability for p in got.top], [p.probability for p in want.top], atol=1e-5)
        cams, alone = serving.explain(model, image, [got.top[1].index]), explain(model, image, [want.top[1].index])
        assert cams.labels == alone.labels
        np.testing.assert_allclose(cams.layers[0].maps, alone.layers[0].maps, atol=1e-4)
        acts, local = serving.activations(model, image), capture(model, image)
        assert acts.names == local.names
        for a, b in zip(acts.layers, local.layers, strict=True):
            _same_float16_maps(a.maps, b.maps)


def _same_float16_maps(got: np.ndarray, want: np.ndarray) -> None:
    """Maps are kept in float16: the engine (1 torch thread) may round a value one float16 step apart."""
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=2e-3, atol=1e-3)


def test_concurrent_captures_and_attributions_batched_on_the_engine_equal_the_embedded_ones(remote: str) -> None:
    model, layer = get_model(default_key()), layer_choices(default_key()).default
    images = [load_image(path) for path in list(sample_images().values())[:4]]
    captures = together(4, lambda i: serving.activations(model, images[i], 160))
    maps = together(4, lambda i: serving.attribute(model, images[i], "grad_cam", 1 + i, layer, Options()))
    for i, image in enumerate(images):
        local = capture(model, image, 160)
        assert captures[i].names == local.names
        for a, b in zip(captures[i].layers, local.layers, strict=True):
            _same_float16_maps(a.maps, b.maps)
        alone = attribute(model, image, "grad_cam", 1 + i, layer, Options())
        assert (maps[i].target, maps[i].label) == (alone.target, alone.label)
        np.testing.assert_allclose(maps[i].heat, alone.heat, atol=1e-4)


def test_attribution_equals_the_embedded_one(remote: str) -> None:
    model, image = get_model(default_key()), load_image(sample_images()["cat"])
    layer = layer_choices(model.key).default
    got = serving.attribute(model, image, "saliency", 1, layer, Options())
    want = attribute(model, image, "saliency", 1, layer, Options())
    assert got.label == want.label
    np.testing.assert_allclose(got.heat, want.heat, atol=1e-5)


def test_a_bad_request_is_the_users_error_with_the_engines_message(remote: str) -> None:
    model, image = get_model(default_key()), load_image(sample_images()["cat"])
    with pytest.raises(ValueError, match="at least 1"):
        serving.classify(model, image, k=0)
    with pytest.raises(ValueError, match="not offered"):
        serving.activations(model, image.resize((8, 8)), 8)


def test_detection_equals_the_embedded_one(remote: str) -> None:
    from core.detection import yolo

    detector = yolo.load_model(shared_path("weights", "yolov8n_int8_openvino_model"))
    images = [load_image(p) for p in yolo.sample_images().values()]
    got, want = serving.detect(detector, images), yolo.detect(detector, images)
    for a, b in zip(got.detections, want.detections, strict=True):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_array_equal(a.classes, b.classes)
    same_size = [image.resize((640, 480)) for image in images]  # one size: these may share one predict
    batched = together(len(same_size), lambda i: serving.detect(detector, [same_size[i]]))
    for image, answer in zip(same_size, batched, strict=True):
        alone = yolo.detect(detector, [image]).detections[0]
        np.testing.assert_allclose(answer.detections[0].boxes, alone.boxes, atol=1e-2)
        np.testing.assert_array_equal(answer.detections[0].classes, alone.classes)
