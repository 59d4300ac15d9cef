"""ConvLens inference on Ray Serve: past one machine, with replicas, GPU fractions and autoscaling.

Two deployments, one per model family, each method behind ``@serve.batch``: ``Classifiers``
(classify, feature-map capture, Grad-CAM, attributions of the zoo CNNs) and ``Detectors``
(YOLO), and a ``Gateway`` that speaks HTTP to the dashboard. The dashboard becomes a thin
client when ``CONVLENS_SERVE_URL`` is set (:mod:`core.serving.client`); the answers are those
of the embedded app (tested). The requests of one batch are grouped by what must be equal to
share a pass (model, input shape, layers, method, settings; for YOLO the model and the image
size) and each group runs as ONE pass: classifications and Grad-CAMs (:mod:`core.serving`),
captures, Grad-CAM attributions and detections (:mod:`core.serving.batched`).

Start locally: ``make serve`` (``python -m core.serving.app``); on a cluster: ``python -m
core.serving.app --address auto`` on the head node (README: multi-node deployment).
Needs ``pip install -r requirements-serve.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import Response

from core.config import limits
from core.detection import yolo
from core.errors import ConvLensError
from core.models import get_model
from core.serving import batched
from core.serving import codec as serve_codec
from core.serving import inference as serving
from core.util.batching import configure_threads

ROUTE = "/convlens"
USER_ERRORS = (ConvLensError, ValueError, TypeError)


@dataclass(frozen=True)
class Failure:
    """A request's own error inside a batch: it fails alone, the others get their answers."""

    message: str


def _model(request: dict):
    return get_model(request["model"]["key"], pretrained=request["model"]["pretrained"])


def _fused(requests: Sequence[dict], group: Callable[[dict], tuple], run: Callable[[list], list], item) -> list[Any]:
    """Requests grouped by ``group`` (same model, shape...), each group ONE call of ``run``."""
    groups: dict[tuple, list[int]] = collections.defaultdict(list)
    results: list[Any] = [None] * len(requests)
    prepared: list[Any] = [None] * len(requests)
    for i, request in enumerate(requests):
        try:
            prepared[i] = item(request)
            groups[group(prepared[i])].append(i)
        except USER_ERRORS as exc:
            results[i] = Failure(str(exc))
    for members in groups.values():
        try:
            for i, value in zip(members, run([prepared[i] for i in members]), strict=True):
                results[i] = value
        except USER_ERRORS as exc:
            for i in members:
                results[i] = Failure(str(exc))
    return results


def _classify_item(request: dict) -> tuple:
    model = _model(request)
    if request["k"] < 1:
        raise ValueError(f"k must be at least 1, got {request['k']}.")
    return model, model.to_input(request["image"]), request["k"]


def _explain_item(request: dict) -> tuple:
    model = _model(request)
    targets = tuple(serving.check_targets(model, request["targets"]))
    return model, model.to_input(request["image"]), targets, tuple(request["layers"])


def _shape_group(item: tuple) -> tuple:
    return (id(item[0].module), tuple(item[1].shape), *item[3:4])


def _capture_item(request: dict) -> batched.CaptureItem:
    return batched.capture_item(_model(request), request["image"], request["size"])


def _capture_group(item: batched.CaptureItem) -> tuple:
    return (id(item.model.module), tuple(item.batch.shape))


def _attribution_item(request: dict) -> batched.AttributionItem:
    r = request
    return batched.attribution_item(_model(r), r["image"], r["method"], r["target"], r["layer"], r["options"])


def _detection_item(request: dict) -> tuple:
    limits.DETECTION_IMAGES.check(len(request["images"]))
    return yolo.load_model(Path(request["path"]), label=request["label"]), list(request["images"])


@serve.deployment
class Classifiers:
    """The zoo CNNs: every request of a batch for one model runs in one forward (and backward)."""

    def __init__(self, threads: int, batch: int, wait_s: float) -> None:
        configure_threads(threads)
        for method in (self.classify, self.explain, self.capture, self.attribute):
            method.set_max_batch_size(batch)
            method.set_batch_wait_timeout_s(wait_s)

    @serve.batch
    async def classify(self, requests: list[dict]) -> list[Any]:
        return await asyncio.to_thread(_fused, requests, _shape_group, serving.classify_batch, _classify_item)

    @serve.batch
    async def explain(self, requests: list[dict]) -> list[Any]:
        return await asyncio.to_thread(_fused, requests, _shape_group, serving.explain_batch, _explain_item)

    @serve.batch
    async def capture(self, requests: list[dict]) -> list[Any]:
        return await asyncio.to_thread(_fused, requests, _capture_group, batched.capture_batch, _capture_item)

    @serve.batch
    async def attribute(self, requests: list[dict]) -> list[Any]:
        def group(item: batched.AttributionItem) -> tuple:
            return item.group

        return await asyncio.to_thread(_fused, requests, group, batched.attribute_batch, _attribution_item)


@serve.deployment
class Detectors:
    """YOLO models, by path on the worker (the same weights folder on every node)."""

    def __init__(self, threads: int, batch: int, wait_s: float) -> None:
        configure_threads(threads)
        self.detect.set_max_batch_size(batch)
        self.detect.set_batch_wait_timeout_s(wait_s)

    @serve.batch
    async def detect(self, requests: list[dict]) -> list[Any]:
        def group(item: tuple) -> tuple:
            return batched.detection_group(*item)

        return await asyncio.to_thread(_fused, requests, group, batched.detect_batch, _detection_item)


@serve.deployment
class Gateway:
    """HTTP in, deployments behind: POST ``/convlens/<method>`` with a :mod:`core.serving.codec` body."""

    def __init__(self, classifiers: DeploymentHandle, detectors: DeploymentHandle) -> None:
        self.routes = {name: getattr(classifiers, name) for name in ("classify", "explain", "capture", "attribute")}
        self.routes["detect"] = detectors.detect

    async def __call__(self, request: Request) -> Response:
        name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if name not in self.routes:
            return Response(f"unknown method {name!r}; use one of {sorted(self.routes)}", status_code=404)
        try:
            payload = serve_codec.decode(await request.body())
        except serve_codec.CodecError as exc:
            return Response(str(exc), status_code=400)
        result = await self.routes[name].remote(payload)
        if isinstance(result, Failure):
            return Response(result.message, status_code=422)
        return Response(serve_codec.encode(result), media_type="application/octet-stream")


def build_app(
    *, replicas: int = 1, autoscale: tuple[int, int] | None = None, cpus: float = 1, gpus: float = 0,
    batch: int = limits.BATCH_MAX, wait_ms: float = limits.BATCH_WAIT_MS, threads: int = 1,
):  # fmt: skip
    """The application: classifiers and detectors with these replicas, resources and batching."""
    scaling: dict[str, Any] = {"num_replicas": replicas}
    if autoscale:
        scaling = {"autoscaling_config": {"min_replicas": autoscale[0], "max_replicas": autoscale[1]}}
    actor = {"num_cpus": cpus, "num_gpus": gpus}
    args = (threads, batch, wait_ms / 1000)
    classifiers = Classifiers.options(ray_actor_options=actor, **scaling).bind(*args)
    detectors = Detectors.options(ray_actor_options=actor, **scaling).bind(*args)
    return Gateway.options(ray_actor_options={"num_cpus": 0}).bind(classifiers, detectors)


def app_builder(args: dict[str, str]):
    """The application from string options, for ``serve run core.serving.app:app_builder gpus=0.5`` and
    KubeRay's ``serveConfigV2`` (keys: replicas, autoscale MIN:MAX, cpus, gpus, batch, wait_ms, threads)."""
    autoscale = tuple(int(n) for n in args["autoscale"].split(":")) if args.get("autoscale") else None
    return build_app(
        replicas=int(args.get("replicas", 1)), autoscale=autoscale, cpus=float(args.get("cpus", 1)),
        gpus=float(args.get("gpus", 0)), batch=int(args.get("batch", limits.BATCH_MAX)),
        wait_ms=float(args.get("wait_ms", limits.BATCH_WAIT_MS)), threads=int(args.get("threads", 1)),
    )  # fmt: skip


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve ConvLens inference with Ray Serve.")
    parser.add_argument("--address", default=None, help="a Ray cluster ('auto' on a node of one); default: local")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP host of the Serve proxy (0.0.0.0 on a cluster)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--autoscale", default=None, help="MIN:MAX replicas, scaled on queued requests")
    parser.add_argument("--cpus", type=float, default=1.0, help="CPUs per replica")
    parser.add_argument("--gpus", type=float, default=0.0, help="GPU fraction per replica (0.25: four per GPU)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per replica")
    parser.add_argument("--batch", type=int, default=limits.BATCH_MAX)
    parser.add_argument("--wait-ms", type=float, default=limits.BATCH_WAIT_MS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import ray

    args = _parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # shut Ray down cleanly when stopped
    ray.init(address=args.address, num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        autoscale = tuple(int(n) for n in args.autoscale.split(":")) if args.autoscale else None
        app = build_app(
            replicas=args.replicas, autoscale=autoscale, cpus=args.cpus, gpus=args.gpus,
            batch=args.batch, wait_ms=args.wait_ms, threads=args.threads,
        )  # fmt: skip
        serve.run(app, name="convlens", route_prefix=ROUTE)
        print(f"CONVLENS_SERVE_URL=http://{args.host}:{args.port}{ROUTE}", flush=True)
        while True:
            time.sleep(3600)
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
