"""The BentoML model server: `POST /analyze` (photo → foods, grams, nutrients), health and readiness.

Two services: `PlateInference` runs the detector and the portion estimator with adaptive batching (its own
worker process under `bentoml serve`); `PlateCoach` is the thin web layer (decode, nutrition, annotate).
Start with `bentoml serve serving.service:PlateCoach` after `python -m serving.import_models`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Annotated

import bentoml
from bentoml.models import BentoModel
from bentoml.validators import ContentType
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.analyzer import MealAnalyzer
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
    max_pixels: int = 40_000_000
    batching: bool = True  # False: one photo per model call (for comparison in benchmarks/serving.py)
    # Unset: the thresholds the champion food-detector was registered with (chosen on the validation photos by the
    # pipeline's tune_serving stage); set, they replace it.
    food_threshold: float | None = None
    coin_threshold: float | None = None
    overlap_iou: float | None = None
    # A cloud namer's (PLATE_NAMER) best suggestion names an unknown food from this probability up.
    namer_accept: float = Field(0.6, ge=0, le=1)

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


@bentoml.service(workers=1, traffic={"timeout": 120})
class PlateInference:
    """Detector + portion estimator; a batch of images in, one findings dict per image out."""

    detector = BentoModel(DETECTOR)
    portion = BentoModel(PORTION)

    def __init__(self) -> None:
        detector = bentoml.mlflow.load_model(self.detector)
        registered = registered_thresholds(detector.unwrap_python_model())
        thresholds = ServingSettings().thresholds(registered)
        log.info("thresholds %s (registered with the detector: %s)", thresholds, registered)
        self.models = PlateModels.from_pyfuncs(detector, bentoml.mlflow.load_model(self.portion), thresholds)
        self.models([Image.new("RGB", (64, 64))])  # warm-up: the first torch calls are slow

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


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) once it passes `limit` bytes, before reading the rest."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ImageRejected(
            f"the upload is {int(declared) / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB", status=413
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ImageRejected(f"the upload is over the {limit / 1e6:.1f} MB limit", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


async def _image_bytes(request: Request, limit: int) -> bytes:
    """Raw body (`Content-Type: image/...`), or the first file of a multipart form."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10, max_part_size=limit + 1)
        upload = next((v for v in form.values() if hasattr(v, "read")), None)
        if upload is None:
            raise ImageRejected("the multipart form has no file; send the photo as a file field named 'image'")
        data = await upload.read()
        if len(data) > limit:
            raise ImageRejected(f"the photo is {len(data) / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB", status=413)
        return data
    return await _read_body(request, limit + 1)


@bentoml.service(name="PlateCoach", workers=1, traffic={"timeout": 120})
@bentoml.asgi_app(web, path="/")
class PlateCoach:
    """The web layer. `/healthz` (alive), `/readyz` (models loaded) and `/docs` come from BentoML."""

    nutrition = BentoModel(NUTRITION)
    detector = BentoModel(DETECTOR)  # declared here too only for the versions reported in each answer
    portion = BentoModel(PORTION)
    models = bentoml.depends(PlateInference)

    def __init__(self) -> None:
        from nutrition import NutritionTable

        self.settings = ServingSettings()
        versions = {"detector": _version(self.detector), "portion": _version(self.portion)}
        from serving.namers import namer_from_env

        table = NutritionTable.load(Path(self.nutrition.path))
        namer = namer_from_env()  # None unless PLATE_NAMER is set; a bad setting fails the start, loudly
        self.analyzer = MealAnalyzer(
            None, table, versions, self.settings.limits, namer=namer, namer_accept=self.settings.namer_accept
        )

    async def _infer(self, image: Image.Image) -> PlateFindings:
        """Ask the model service; a dropped connection to it (seen under load: a kept-alive socket the model
        worker already closed) is tried once more, then answered 503 so that clients retry."""
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
        timings = {"decode": decode_ms, "models": (time.perf_counter() - models_started) * 1e3}
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
        """The same analysis for BentoML clients (multipart upload); prefer `POST /analyze` over plain HTTP."""
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
