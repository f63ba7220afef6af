"""The BentoML model server: `POST /analyze` (photo → foods, grams, nutrients), health and readiness.

One process by default: `PlateCoach` decodes, runs the models (ONNX Runtime, one photo at a time through a
queue) and adds nutrition. With PLATE_SERVING_SPLIT=true the models run in `PlateInference` instead, a second
worker process with adaptive batching, as before; on one 2-core box the hop costs more than it gives (README,
"Model server"). Start with `bentoml serve serving.service:PlateCoach` after `python -m serving.import_models`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Literal

import bentoml
from bentoml.models import BentoModel
from bentoml.validators import ContentType
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.analyzer import MealAnalyzer
from serving.http_guard import ServingGuard, limited, read_form
from serving.image_input import ImageLimits, ImageRejected
from serving.import_models import DETECTOR, NUTRITION, PORTION
from serving.schemas import AnalyzeResponse, ModelVersion
from training.inference.plate import PlateFindings, PlateModels, Thresholds, registered_thresholds

log = logging.getLogger(__name__)
MAX_BATCH = 16


class ServingSettings(BaseSettings):
    """Runtime settings from the environment (prefix PLATE_SERVING_), read when a service starts."""

    model_config = SettingsConfigDict(env_prefix="PLATE_SERVING_")

    max_upload_mb: float = 10.0
    max_pixels: int = 25_000_000  # decoded pixels: a JPEG's after draft decoding (serving/image_input.py)
    # Set: every route but /healthz, /livez and /readyz needs `Authorization: Bearer <token>` (the bot's
    # BOT_SERVING_TOKEN); unset, anyone who can reach the port may call it.
    token: SecretStr | None = None
    batching: bool = True  # False: one photo per model call (for comparison in benchmarks/serving.py)
    # Unset: the thresholds the champion food-detector was registered with (chosen on the validation photos by the
    # pipeline's tune_serving stage); set, they replace it.
    food_threshold: float | None = None
    coin_threshold: float | None = None
    overlap_iou: float | None = None
    # A cloud namer's (PLATE_NAMER) best suggestion names an unknown food from this probability up.
    namer_accept: float = Field(0.6, ge=0, le=1)
    # How the models run; benchmarks/serving.py compares each choice with today's (torch, full-size decode).
    runtime: Literal["onnx", "torch"] = "onnx"
    # JPEGs are decoded (DCT-scaled by 1/2, 1/4 or 1/8) down to this long side, no further: the localiser sees
    # 256 px, but a food box an eighth of the photo wide must still give a full 224-px crop (at 1000 px a small litchi
    # in a 12-MP photo was named otherwise; tests/serving/test_fast_path_parity.py). 0: full size.
    draft_px: int = Field(1600, ge=0)
    # Threads one model call uses (torch and ONNX Runtime intra-op), and model calls at once (one process, ONNX
    # Runtime; 0: the cores over `threads`). One thread a call and a call a core measured best on 2 cores: a second
    # intra-op thread mostly spins, and two photos go through at once.
    threads: int = Field(1, ge=1)
    model_workers: int = Field(0, ge=0)

    def workers(self) -> int:
        """Model calls at once: torch's localiser (ultralytics' predictor) keeps state per call, so one there."""
        from training.inference.onnx_runtime import machine_threads

        if self.runtime == "torch":
            return 1
        return self.model_workers or max(1, machine_threads() // self.threads)

    # Photos at the models (one process: the one they are on and those waiting) beyond this many are refused 503 with
    # Retry-After; below it they queue. At ~0.1 s a photo, 32 waiting is ~3-4 s, inside the bot's timeout and Twilio's 15 s.
    max_queue: int = Field(32, ge=1)

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=int(self.max_upload_mb * 1024 * 1024), max_pixels=self.max_pixels)

    def thresholds(self, registered: Thresholds) -> Thresholds:
        """The detector's `registered` thresholds, with each one a PLATE_SERVING_* variable sets in its place."""
        overrides = {"food": self.food_threshold, "coin": self.coin_threshold, "overlap_iou": self.overlap_iou}
        return dataclasses.replace(registered, **{k: v for k, v in overrides.items() if v is not None})


def _version(model: bentoml.Model) -> ModelVersion:
    labels = model.info.labels
    return ModelVersion(
        name=labels.get("registry_name", model.tag.name), version=labels.get("registry_version", str(model.tag.version))
    )


def split_services() -> bool:
    """PLATE_SERVING_SPLIT: the models in their own worker (`PlateInference`). Read when this module is imported,
    the one setting that is: BentoML fixes the service graph from the class attributes."""
    return os.environ.get("PLATE_SERVING_SPLIT", "false").strip().lower() in ("1", "true", "yes")


def load_plate_models(detector: bentoml.Model, portion: bentoml.Model, settings: ServingSettings) -> PlateModels:
    """The served `PlateModels` from the BentoML store, on the runtime and threads `settings` choose, warmed up."""
    from training.inference.onnx_runtime import set_threads, use_onnx

    threads = settings.threads
    set_threads(threads)
    detector_pyfunc = bentoml.mlflow.load_model(detector)
    registered = registered_thresholds(detector_pyfunc.unwrap_python_model())
    thresholds = settings.thresholds(registered)
    log.info("thresholds %s (registered with the detector: %s)", thresholds, registered)
    models = PlateModels.from_pyfuncs(detector_pyfunc, bentoml.mlflow.load_model(portion), thresholds)
    if settings.runtime == "onnx":
        use_onnx(models.detector, threads)
    log.info("models on %s, %d threads", settings.runtime, threads)
    models([Image.new("RGB", (64, 64))])  # warm-up: the first calls are slow
    return models


@bentoml.service(workers=1, traffic={"timeout": 120})
class PlateInference:
    """Detector + portion estimator; a batch of images in, one findings dict per image out."""

    detector = BentoModel(DETECTOR)
    portion = BentoModel(PORTION)

    def __init__(self) -> None:
        self.models = load_plate_models(self.detector, self.portion, ServingSettings())

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=60_000)
    def infer_batch(self, images: list[Image.Image]) -> list[dict]:
        return [dataclasses.asdict(f) for f in self.models(images)]

    @bentoml.api
    def infer_one(self, image: Image.Image) -> dict:
        return dataclasses.asdict(self.models([image])[0])


web = FastAPI(title="plate-coach model server", docs_url=None, redoc_url=None, openapi_url=None)


class ModelsUnavailable(RuntimeError):
    """The model service could not be reached: a 503 the client may retry."""


def _rejection(exc: ImageRejected | ModelsUnavailable) -> JSONResponse:
    if isinstance(exc, ModelsUnavailable):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "2"})
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


async def _image_bytes(request: Request, limit: int) -> bytes:
    """Raw body (`Content-Type: image/...`), or the first file of a multipart form — either read chunk by chunk
    and refused (413) once past `limit`, never spooled whole first."""
    content_type = request.headers.get("content-type", "")
    declared = request.headers.get("content-length")
    if content_type.lower().startswith("multipart/form-data"):
        parts = await read_form(request.stream(), content_type, limit, declared)
        upload = next((p for p in parts if p.filename is not None), None)
        if upload is None:
            raise ImageRejected("the multipart form has no file; send the photo as a file field named 'image'")
        return bytes(upload.data)
    return b"".join([chunk async for chunk in limited(request.stream(), limit, declared)])


@bentoml.service(name="PlateCoach", workers=1, traffic={"timeout": 120})
@bentoml.asgi_app(web, path="/")
class PlateCoach:
    """The web layer. `/healthz` (alive), `/readyz` (models loaded) and `/docs` come from BentoML."""

    nutrition = BentoModel(NUTRITION)
    detector = BentoModel(DETECTOR)  # declared here too only for the versions reported in each answer
    portion = BentoModel(PORTION)
    if split_services():
        models = bentoml.depends(PlateInference)

    def __init__(self) -> None:
        from nutrition import NutritionTable

        self.settings = ServingSettings()
        versions = {"detector": _version(self.detector), "portion": _version(self.portion)}
        from serving.namers import namer_from_env

        table = NutritionTable.load(Path(self.nutrition.path))
        namer = namer_from_env()  # None unless PLATE_NAMER is set; a bad setting fails the start, loudly
        self.analyzer = MealAnalyzer(
            None,
            table,
            versions,
            self.settings.limits,
            namer=namer,
            namer_accept=self.settings.namer_accept,
            draft_px=self.settings.draft_px or None,
        )
        self.local_models = None if split_services() else load_plate_models(self.detector, self.portion, self.settings)
        # As many photos at once through the models as `threads` leave cores for (more would only slow all of them);
        # the others wait in this queue, up to `max_queue`.
        self.model_queue = ThreadPoolExecutor(max_workers=self.settings.workers(), thread_name_prefix="models")
        self.waiting = 0

    async def _infer_here(self, image: Image.Image) -> PlateFindings:
        """The models in this process, through the queue; 503 (ModelsUnavailable) once `max_queue` photos wait."""
        if self.waiting >= self.settings.max_queue:
            raise ModelsUnavailable(f"{self.waiting} photos are waiting for the models; try again in a few seconds")
        self.waiting += 1
        try:
            loop = asyncio.get_running_loop()
            (findings,) = await loop.run_in_executor(self.model_queue, self.local_models, [image])
        finally:
            self.waiting -= 1
        return findings

    async def _infer(self, image: Image.Image) -> PlateFindings:
        """Ask the models: in this process, or the model service, where a dropped connection (seen under load: a
        kept-alive socket the model worker already closed) is tried once more, then answered 503 so that clients
        retry."""
        if self.local_models is not None:
            return await self._infer_here(image)
        import aiohttp

        api = self.models.to_async
        for attempt in (1, 2):
            try:
                raw = (await api.infer_batch([image]))[0] if self.settings.batching else await api.infer_one(image)
                break
            except aiohttp.ClientError as exc:
                log.warning("model service call failed (attempt %d): %r", attempt, exc)
        else:
            raise ModelsUnavailable("the models are busy or restarting; try again in a few seconds")
        if isinstance(raw, PlateFindings):
            return raw
        return PlateFindings.from_dict(raw)

    async def analyze_bytes(self, data: bytes, embed: bool = False) -> tuple[AnalyzeResponse, Image.Image]:
        """Raises ImageRejected for bad uploads; anything else is a server error."""
        from starlette.concurrency import run_in_threadpool

        started = time.perf_counter()
        image, decode_ms = await run_in_threadpool(self.analyzer.decode, data)
        models_started = time.perf_counter()
        findings = await self._infer(image)
        models_ms = (time.perf_counter() - models_started) * 1e3
        model_work = findings.timings_ms.get("detect", 0.0) + findings.timings_ms.get("portion", 0.0)
        # `wait`: in the queue, and for the split services the hop to the model worker and back
        timings = {"decode": decode_ms, "models": models_ms, "wait": max(0.0, models_ms - model_work)}
        if self.analyzer.namer is not None:  # a cloud namer blocks on the network
            return await run_in_threadpool(self.analyzer.respond, image, findings, timings, started, embed), image
        return self.analyzer.respond(image, findings, timings, started, embed), image

    @web.post("/analyze")
    async def analyze(self, request: Request, annotate: bool = False, embed: bool = False) -> Response:
        """A photo as the raw body (`Content-Type: image/jpeg`…) or a multipart file → AnalyzeResponse JSON,
        or with `?annotate=true` the photo with boxes and labels drawn, as PNG."""
        from starlette.concurrency import run_in_threadpool

        from serving.annotate import annotate as draw

        try:
            data = await _image_bytes(request, self.settings.limits.max_bytes)
            result, image = await self.analyze_bytes(data, embed)
        except (ImageRejected, ModelsUnavailable) as exc:
            log.info("not analysed: %s", exc)
            return _rejection(exc)
        if annotate:
            return Response(await run_in_threadpool(draw, image, result), media_type="image/png")
        return Response(result.model_dump_json(), media_type="application/json")

    @bentoml.api(route="/analyze/file")
    async def analyze_file(self, image: Annotated[Path, ContentType("image/*")]) -> AnalyzeResponse:
        """The same analysis for BentoML clients (multipart upload); prefer `POST /analyze` over plain HTTP.

        `ServingGuard` has already read the upload under the size limit and refused URL inputs."""
        try:
            data = image.read_bytes()
            if len(data) > self.settings.limits.max_bytes:
                raise ImageRejected(
                    f"the photo is {len(data) / 1e6:.1f} MB; the limit is {self.settings.limits.max_bytes / 1e6:.1f} MB",
                    413,
                )
            result, _ = await self.analyze_bytes(data)
        except (ImageRejected, ModelsUnavailable) as exc:
            return _rejection(exc)  # BentoML passes a Response through as it is
        return result


PlateCoach.add_asgi_middleware(ServingGuard, settings=ServingSettings)
