"""The framework-free meal analysis: photo → foods with boxes, grams and nutrients (the AnalyzeResponse).

`PlateModels` holds the two models (detector, portion estimator) and runs them on a batch of images;
`MealAnalyzer` adds decoding, the nutrition table and the response. The BentoML service is a thin wrapper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

# Both registered models ship a snapshot of `training/` (MLflow code_paths), and loading one puts its snapshot
# first on sys.path. One process holds one `training` package: without this import, whichever model loaded
# first would lend its snapshot to the other (the portion estimator then ran on the detector's older code and
# ignored its size prior, answering 26 g for a 245 g apple). Importing it here, before any model loads, makes
# the deployed code serve both; PortionEstimator refuses a model whose settings that code does not know.
import training.food_detector  # noqa: F401
import training.portion  # noqa: F401
from nutrition import NutritionTable, UnknownFoodError
from serving.image_input import ImageLimits, decode_image
from serving.schemas import AnalyzeResponse, BoxOut, ImageInfo, Item, ModelVersion, Reference, Totals

log = logging.getLogger(__name__)

COIN = "coin"
NO_FOOD_HINT = "No food found in this photo. Try again with the whole plate in view, from above, in good light."
NO_REFERENCE_HINT = "No coin in view, so grams are estimated from a typical framing and the ranges are wide."


@dataclass(frozen=True)
class Thresholds:
    """Which localiser boxes count: the served detector keeps boxes down to conf 0.01 for ranking.

    Chosen on the validation items' photos by the share of meals whose kcal lands within ±20 %
    (`evaluate_meal` end to end, 4-epoch detector): 0.850 here against 0.831 for the earlier 0.25 / 0.25 / 0.7.
    A food box counted from 0.1 finds 98.4 % of the foods instead of 96.4 %; the duplicate and partial boxes
    that come with it (0.115 per photo at an overlap of 0.7) mostly overlap the kept box by 0.3 or more
    (0.037 left). Coins count from 0.05: 99.6 % of the photos get their scale instead of 94.6 %.
    """

    food: float = 0.1
    coin: float = 0.05
    max_foods: int = 5
    overlap_iou: float = 0.3  # a second food box this much over a kept one is the same food


@dataclass(frozen=True)
class FoodFinding:
    """One food as the models see it, before nutrition."""

    name: str
    confidence: float
    box: tuple[float, float, float, float]
    grams: float
    grams_low: float
    grams_high: float


@dataclass(frozen=True)
class PlateFindings:
    """Model output for one photo. `timings_ms` are for the batch the photo was in."""

    foods: list[FoodFinding]
    reference: str  # "coin" or "none"
    reference_box: tuple[float, float, float, float] | None
    mm_per_px: float | None
    timings_ms: dict[str, float] = field(default_factory=dict)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class PlateModels:
    """The detector and the portion estimator together: a batch of RGB images → PlateFindings each.

    Args:
        detector: a `training.food_detector.FoodDetector` (localiser + crop classifier).
        estimator: a `training.portion.PortionEstimator`.
    """

    def __init__(self, detector, estimator, thresholds: Thresholds = Thresholds()):
        self.detector, self.estimator, self.thresholds = detector, estimator, thresholds

    @classmethod
    def from_pyfuncs(cls, detector_pyfunc, portion_pyfunc, thresholds: Thresholds = Thresholds()) -> PlateModels:
        """From loaded MLflow pyfunc models (as registered by the pipeline)."""
        return cls(detector_pyfunc.unwrap_python_model().detector, portion_pyfunc.unwrap_python_model().estimator, thresholds)

    def __call__(self, images: Sequence[Image.Image]) -> list[PlateFindings]:
        images = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im)) for im in images]
        if not images:
            return []
        started = time.perf_counter()
        detections = self.detector(list(images))
        detected = time.perf_counter()
        out = [self._portions(image, boxes) for image, boxes in zip(images, detections)]
        timings = {"detect": (detected - started) * 1e3, "portion": (time.perf_counter() - detected) * 1e3,
                   "batch_size": float(len(images))}  # fmt: skip
        return [PlateFindings(f.foods, f.reference, f.reference_box, f.mm_per_px, timings) for f in out]

    def _portions(self, image: Image.Image, boxes) -> PlateFindings:
        from training.voc import Box

        t = self.thresholds
        coins = [b for b in boxes if b.label == COIN and b.confidence >= t.coin]
        coin = max(coins, key=lambda b: b.confidence) if coins else None
        foods, kept = [], []
        for b in sorted((b for b in boxes if b.label != COIN), key=lambda b: -b.localiser_confidence):
            xyxy = (b.box.xmin, b.box.ymin, b.box.xmax, b.box.ymax)
            if b.localiser_confidence < t.food or len(foods) >= t.max_foods or any(_iou(xyxy, k) > t.overlap_iou for k in kept):
                continue
            try:
                features = getattr(b, "features", None)
                if features is None:  # a detector registered before FoodBox kept its crop features
                    from training.backbone import crop

                    features = self.detector.extractor([crop(image, b.box, self.detector.pad_fraction)])[0]
                estimate = self.estimator.estimate(b.label, Box(*xyxy), image.size, coin.box if coin else None, None, features)
            except ValueError as exc:  # PortionInputError, or a box outside the image
                log.warning("skipping %s box %s: %s", b.label, xyxy, exc)
                continue
            kept.append(xyxy)
            foods.append(FoodFinding(b.label, float(b.confidence), xyxy, estimate.grams, estimate.low, estimate.high))
        if coin is not None:
            from training.portion_features import coin_scale

            scale = coin_scale(coin.box, *image.size)
            return PlateFindings(foods, "coin", (coin.box.xmin, coin.box.ymin, coin.box.xmax, coin.box.ymax), scale.mm_per_px)
        return PlateFindings(foods, "none", None, None)


def _box(xyxy: tuple[float, float, float, float]) -> BoxOut:
    return BoxOut(xmin=xyxy[0], ymin=xyxy[1], xmax=xyxy[2], ymax=xyxy[3])


class MealAnalyzer:
    """Photo bytes → AnalyzeResponse: decode → models → nutrition, with per-stage timings.

    Args:
        models: a callable from a list of images to PlateFindings (a `PlateModels`, or a remote batcher).
        nutrition: kcal and macros per food and grams.
        versions: {"detector": ModelVersion, "portion": ModelVersion} reported in every answer.
    """

    def __init__(self, models: Callable[[list[Image.Image]], list[PlateFindings]] | None, nutrition: NutritionTable,
                 versions: dict[str, ModelVersion], limits: ImageLimits = ImageLimits()):  # fmt: skip
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

    def respond(self, image: Image.Image, findings: PlateFindings, timings_ms: dict[str, float], started: float) -> AnalyzeResponse:
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
            items.append(Item(name=food.name, display_name=facts.name, ndb=facts.ndb, confidence=min(1.0, max(0.0, food.confidence)),
                              box=_box(food.box), grams=food.grams, grams_low=food.grams_low, grams_high=food.grams_high,
                              kcal=n.kcal, protein_g=n.protein_g, fat_g=n.fat_g, carbs_g=n.carbs_g))  # fmt: skip
        totals = Totals(grams=sum(i.grams for i in items), kcal=sum(i.kcal for i in items), protein_g=sum(i.protein_g for i in items),
                        fat_g=sum(i.fat_g for i in items), carbs_g=sum(i.carbs_g for i in items))  # fmt: skip
        hint = NO_FOOD_HINT if not items else NO_REFERENCE_HINT if findings.reference == "none" else None
        reference = Reference(kind=findings.reference, box=_box(findings.reference_box) if findings.reference_box else None,
                              mm_per_px=findings.mm_per_px)  # fmt: skip
        timings = {**{k: v for k, v in findings.timings_ms.items() if k != "batch_size"}, **timings_ms}
        timings["nutrition"] = (time.perf_counter() - nutrition_started) * 1e3
        timings["total"] = (time.perf_counter() - started) * 1e3
        return AnalyzeResponse(items=items, reference=reference, totals=totals, image=ImageInfo(width=image.width, height=image.height),
                               models=self.versions, timings_ms={k: round(v, 2) for k, v in timings.items()}, hint=hint)  # fmt: skip
