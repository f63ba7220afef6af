"""The whole-photo predictor, framework-free: a batch of photos → each photo's foods (name, box, grams with an
80 % range) and its scale reference, from the detector and the portion estimator together.

The model server (serving/) wraps it with upload limits, decoding, nutrition and BentoML; tune_serving chooses its
thresholds on the validation photos and evaluate_meal scores it on the test photos, so the pipeline measures
exactly what is served.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from training.inference.backbone import crop
from training.inference.boxes import iou
from training.inference.food_detector import MAX_FOODS
from training.inference.labels import COIN
from training.inference.portion_features import coin_scale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    """Which localiser boxes count: the served detector keeps boxes down to its floor (params
    `register_detector.conf`) for ranking; these decide which of them the reply lists.

    These defaults are a fallback only: the `tune_serving` stage chooses food, coin and overlap on the validation
    photos (reports/serving/sweep.csv), and `served_thresholds` reads its choice.
    """

    food: float = 0.1
    coin: float = 0.05
    max_foods: int = MAX_FOODS
    overlap_iou: float = 0.3  # a second food box this much over a kept one is the same food

    @classmethod
    def from_dict(cls, values: Mapping[str, float] | None) -> Thresholds:
        """From a mapping such as thresholds.json's `thresholds`; absent keys keep the defaults, unknown ones fail."""
        values, names = dict(values or {}), [f.name for f in dataclasses.fields(cls)]
        unknown = set(values) - set(names)
        if unknown:
            raise ValueError(f"unknown thresholds {sorted(unknown)}; known: {names}")
        return cls(**values)

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


THRESHOLDS_KEY = "thresholds"  # in tune_serving's thresholds.json and in the registered food-detector's config


def served_thresholds(chosen: Path | str | None = None) -> Thresholds:
    """The thresholds the server applies, and the evaluate stages score with: the one place their source is chosen.

    `chosen`: tune_serving's thresholds.json (params `paths.serving`), chosen on the validation photos;
    register_detector ships the same values in food-detector's config, where serving reads them back
    (`registered_thresholds`). None: the `Thresholds` defaults (tests, models registered without a choice).

    Raises:
        FileNotFoundError: `chosen` does not exist (run `dvc repro tune_serving`).
    """
    if chosen is None:
        return Thresholds()
    chosen = Path(chosen)
    if not chosen.is_file():
        raise FileNotFoundError(f"no served thresholds at {chosen}: run `dvc repro tune_serving`")
    return Thresholds.from_dict(json.loads(chosen.read_text())[THRESHOLDS_KEY])


def registered_thresholds(detector_model) -> Thresholds:
    """The thresholds a loaded FoodDetectorModel (a pyfunc's `unwrap_python_model()`) was registered with: its
    config's `thresholds`, else the `Thresholds` defaults."""
    config = getattr(detector_model, "config", None) or {}
    return Thresholds.from_dict(config.get(THRESHOLDS_KEY))


def served_coin(boxes: Sequence, thresholds: Thresholds):
    """The coin the reply takes its scale from: the most confident coin box from `thresholds.coin`, else None."""
    coins = [b for b in boxes if b.label == COIN and b.confidence >= thresholds.coin]
    return max(coins, key=lambda b: b.confidence) if coins else None


def served_foods(boxes: Sequence, thresholds: Thresholds, accept: Callable[[Any], Any] = lambda box: box) -> list:
    """The food boxes the reply lists, in its order (localiser confidence): from `thresholds.food`, at most
    `max_foods`, a box overlapping a listed one by more than `overlap_iou` left out as the same food.

    Each box passes through `accept` (its result is what is listed); None drops the box, which then neither
    counts toward `max_foods` nor hides the boxes overlapping it.
    """
    listed, kept = [], []
    for b in sorted((b for b in boxes if b.label != COIN), key=lambda b: -b.localiser_confidence):
        xyxy = b.box.xyxy
        if (
            b.localiser_confidence < thresholds.food
            or len(listed) >= thresholds.max_foods
            or (iou(xyxy, kept) > thresholds.overlap_iou).any()
        ):
            continue
        result = accept(b)
        if result is None:
            continue
        kept.append(xyxy)
        listed.append(result)
    return listed


@dataclass(frozen=True)
class FoodFinding:
    """One food as the models see it, before nutrition. Plain values only (it crosses the model service as a
    dict): `suggestions` are `{name, display, probability, source, ndb}` dicts.

    `name` is an ECUSTFD type, an ImageNet food key from data/foods.yaml, or "unknown"; `grams` is None when
    nothing can size an unknown food.
    """

    name: str
    confidence: float
    box: tuple[float, float, float, float]
    grams: float | None
    grams_low: float | None
    grams_high: float | None
    display: str | None = None
    ndb: str | None = None
    recognised_by: str | None = "ecustfd"
    suggestions: tuple[dict, ...] = ()
    grams_basis: str = "model"
    portion: str | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FoodFinding:
        """Back from `dataclasses.asdict` (the model service's answer): tuples arrive as lists."""
        values = dict(values)
        values["box"] = tuple(values["box"])
        values["suggestions"] = tuple(dict(s) for s in values.get("suggestions", ()))
        return cls(**values)


@dataclass(frozen=True)
class PlateFindings:
    """Model output for one photo. `timings_ms` are for the batch the photo was in."""

    foods: list[FoodFinding]
    reference: str  # "coin" or "none"
    reference_box: tuple[float, float, float, float] | None
    mm_per_px: float | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    whole_photo: bool = False  # no food box: the whole photo was named as one dish

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PlateFindings:
        values = dict(values)
        values["foods"] = [FoodFinding.from_dict(f) for f in values["foods"]]
        if values.get("reference_box") is not None:
            values["reference_box"] = tuple(values["reference_box"])
        return cls(**values)


class PlateModels:
    """The detector and the portion estimator together: a batch of RGB images → PlateFindings each.

    Args:
        detector: a `training.inference.food_detector.FoodDetector` (localiser + crop classifier).
        estimator: a `training.inference.portion_estimator.PortionEstimator`.
    """

    def __init__(self, detector, estimator, thresholds: Thresholds = Thresholds()):
        self.detector, self.estimator, self.thresholds = detector, estimator, thresholds

    @classmethod
    def from_pyfuncs(cls, detector_pyfunc, portion_pyfunc, thresholds: Thresholds | None = None) -> PlateModels:
        """From loaded MLflow pyfunc models (as registered by the pipeline). `thresholds` None: the ones the
        detector was registered with (`registered_thresholds`)."""
        detector = detector_pyfunc.unwrap_python_model()
        if thresholds is None:
            thresholds = registered_thresholds(detector)
        return cls(detector.detector, portion_pyfunc.unwrap_python_model().estimator, thresholds)

    def __call__(self, images: Sequence[Image.Image]) -> list[PlateFindings]:
        images = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im)) for im in images]
        if not images:
            return []
        started = time.perf_counter()
        detections = self.detector(list(images))
        detected = time.perf_counter()
        out = [self.findings(image, boxes) for image, boxes in zip(images, detections)]
        timings = {
            "detect": (detected - started) * 1e3,
            "portion": (time.perf_counter() - detected) * 1e3,
            "batch_size": float(len(images)),
        }
        return [dataclasses.replace(f, timings_ms=timings) for f in out]

    def findings(self, image: Image.Image, boxes) -> PlateFindings:
        """One photo's findings from its detector boxes (`self.detector([image])[0]`) under `self.thresholds`.

        The boxes do not depend on the thresholds: tune_serving runs the detector once per photo and this once per
        thresholds it tries.
        """
        coin = served_coin(boxes, self.thresholds)

        def finding(b) -> FoodFinding | None:
            try:
                features = getattr(b, "features", None)
                if features is None:  # boxes that come without their crop features
                    features = self.detector.extractor([crop(image, b.box, self.detector.pad_fraction)])[0]
                estimate = self.estimator.estimate(
                    b.label, b.box, image.size, coin.box if coin else None, None, features
                )
            except ValueError as exc:  # PortionInputError, or a box outside the image
                log.warning("skipping %s box %s: %s", b.label, b.box.xyxy, exc)
                return None
            return FoodFinding(b.label, float(b.confidence), b.box.xyxy, estimate.grams, estimate.low, estimate.high)

        foods = served_foods(boxes, self.thresholds, finding)
        if coin is not None:
            scale = coin_scale(coin.box, *image.size)
            return PlateFindings(foods, "coin", coin.box.xyxy, scale.mm_per_px)
        return PlateFindings(foods, "none", None, None)
