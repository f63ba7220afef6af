"""Photo bytes → the AnalyzeResponse: decode the upload, ask the models, add nutrition, time each step.

The models are `training.inference.plate.PlateModels` (in this process, or the batching model service);
this module is the framework-free half of the web layer, `serving/service.py` the BentoML half.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PIL import Image

from nutrition import NutritionTable, UnknownFoodError
from serving.image_input import ImageLimits, decode_image
from serving.schemas import AnalyzeResponse, BoxOut, ImageInfo, Item, ModelVersion, Reference, Totals
from training.inference.plate import PlateFindings

log = logging.getLogger(__name__)

NO_FOOD_HINT = "No food found in this photo. Try again with the whole plate in view, from above, in good light."
NO_REFERENCE_HINT = "No coin in view, so grams are estimated from a typical framing and the ranges are wide."


def _box(xyxy: tuple[float, float, float, float]) -> BoxOut:
    return BoxOut(xmin=xyxy[0], ymin=xyxy[1], xmax=xyxy[2], ymax=xyxy[3])


class MealAnalyzer:
    """Photo bytes → AnalyzeResponse: decode → models → nutrition, with per-stage timings.

    Args:
        models: a callable from a list of images to PlateFindings (a `PlateModels`, or a remote batcher).
        nutrition: kcal and macros per food and grams.
        versions: {"detector": ModelVersion, "portion": ModelVersion} reported in every answer.
    """

    def __init__(
        self,
        models: Callable[[list[Image.Image]], list[PlateFindings]] | None,
        nutrition: NutritionTable,
        versions: dict[str, ModelVersion],
        limits: ImageLimits = ImageLimits(),
    ):
        self.models, self.nutrition, self.versions, self.limits = models, nutrition, versions, limits

    def decode(self, data: bytes) -> tuple[Image.Image, float]:
        """The upright RGB image and the ms it took. Raises `ImageRejected` (4xx) for bad uploads."""
        started = time.perf_counter()
        image = decode_image(data, self.limits)
        return image, (time.perf_counter() - started) * 1e3

    def analyze(self, data: bytes) -> tuple[AnalyzeResponse, Image.Image]:
        """The whole analysis of one photo, in this process."""
        started = time.perf_counter()
        image, decode_ms = self.decode(data)
        models_started = time.perf_counter()
        (findings,) = self.models([image])
        models_ms = (time.perf_counter() - models_started) * 1e3
        return self.respond(image, findings, {"decode": decode_ms, "models": models_ms}, started), image

    def respond(
        self, image: Image.Image, findings: PlateFindings, timings_ms: dict[str, float], started: float
    ) -> AnalyzeResponse:
        """Add nutrients and totals to the model findings; `started` is the perf_counter at request start."""
        nutrition_started = time.perf_counter()
        items = []
        for food in findings.foods:
            try:
                facts = self.nutrition.facts(food.name)
            except UnknownFoodError:
                log.error("the detector named %r, which the nutrition table lacks; left out", food.name)
                continue
            n = self.nutrition.nutrients(food.name, food.grams)
            items.append(
                Item(
                    name=food.name,
                    display_name=facts.name,
                    ndb=facts.ndb,
                    confidence=min(1.0, max(0.0, food.confidence)),
                    box=_box(food.box),
                    grams=food.grams,
                    grams_low=food.grams_low,
                    grams_high=food.grams_high,
                    kcal=n.kcal,
                    protein_g=n.protein_g,
                    fat_g=n.fat_g,
                    carbs_g=n.carbs_g,
                )
            )
        totals = Totals(
            grams=sum(i.grams for i in items),
            kcal=sum(i.kcal for i in items),
            protein_g=sum(i.protein_g for i in items),
            fat_g=sum(i.fat_g for i in items),
            carbs_g=sum(i.carbs_g for i in items),
        )
        hint = NO_FOOD_HINT if not items else NO_REFERENCE_HINT if findings.reference == "none" else None
        reference = Reference(
            kind=findings.reference,
            box=_box(findings.reference_box) if findings.reference_box else None,
            mm_per_px=findings.mm_per_px,
        )
        timings = {**{k: v for k, v in findings.timings_ms.items() if k != "batch_size"}, **timings_ms}
        timings["nutrition"] = (time.perf_counter() - nutrition_started) * 1e3
        timings["total"] = (time.perf_counter() - started) * 1e3
        return AnalyzeResponse(
            items=items,
            reference=reference,
            totals=totals,
            image=ImageInfo(width=image.width, height=image.height),
            models=self.versions,
            timings_ms={k: round(v, 2) for k, v in timings.items()},
            hint=hint,
        )
