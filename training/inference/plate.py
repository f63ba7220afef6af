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
from training.inference.food_detector import MAX_FOODS, FoodDetector
from training.inference.labels import COIN, FOOD_TYPES
from training.inference.portion_estimator import NoReferenceError
from training.inference.references import ReferenceSettings, find_reference, served_settings

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
    embedding: str | None = field(default=None, repr=False)  # `embedding_of` the crop's features

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
    reference: str  # the scale's kind: "coin", "card", "plate" or "none"
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


def rescaled(findings: PlateFindings, factor: float) -> PlateFindings:
    """`findings` on an image `factor` times smaller than the photo (a draft-decoded JPEG) → in the photo's own
    pixels: boxes times `factor`, millimetres per pixel divided by it; grams and names unchanged."""
    if factor == 1:
        return findings

    def scale(xyxy):
        return tuple(float(v) * factor for v in xyxy)

    return dataclasses.replace(
        findings,
        foods=[dataclasses.replace(f, box=scale(f.box)) for f in findings.foods],
        reference_box=scale(findings.reference_box) if findings.reference_box is not None else None,
        mm_per_px=findings.mm_per_px / factor if findings.mm_per_px else findings.mm_per_px,
    )


def embedding_of(features: np.ndarray) -> str:
    """A crop's MobileNetV2 features as the bot's gallery stores them: L2-normalised, float16, little-endian, base64
    (1280 values in 3,416 characters)."""
    import base64

    vector = np.asarray(features, dtype=np.float64).ravel()
    vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return base64.b64encode(vector.astype("<f2").tobytes()).decode("ascii")


HOUSEHOLD_RANGE = (0.5, 2.0)  # a household portion ("1 slice") says little about this photo: ×/÷ 2


class PlateModels:
    """The detector and the portion estimator together: a batch of RGB images → PlateFindings each.

    Args:
        detector: a `training.inference.food_detector.FoodDetector` (localiser + crop classifier, and the open-set
            namer when it was registered with one).
        estimator: a `training.inference.portion_estimator.PortionEstimator`.
        references: how the scale is looked for (coin, card, plate) and the plate size assumed; None: the plate size
            shipped in the portion model (params `train_portion.plate_diameter_mm`). The evaluate stages pass
            ECUSTFD's own plates.
        whole_photo: with a namer, a photo where no food box counts is named whole, as one dish (a phone photo is
            often one dish filling the frame), instead of answering "no food".
    """

    def __init__(
        self,
        detector,
        estimator,
        thresholds: Thresholds = Thresholds(),
        references: ReferenceSettings | None = None,
        whole_photo: bool = True,
    ):
        self.detector, self.estimator, self.thresholds = detector, estimator, thresholds
        # A fine-tuned estimator keeps the served settings (plate size, priors) with the frozen one it carries.
        self.references = references or served_settings(
            getattr(getattr(estimator, "fallback", estimator), "meta", None)
        )
        self.whole_photo = whole_photo

    @classmethod
    def from_pyfuncs(
        cls, detector_pyfunc, portion_pyfunc, thresholds: Thresholds | None = None, **kwargs
    ) -> PlateModels:
        """From loaded MLflow pyfunc models (as registered by the pipeline). `thresholds` None: the ones the
        detector was registered with (`registered_thresholds`)."""
        detector = detector_pyfunc.unwrap_python_model()
        if thresholds is None:
            thresholds = registered_thresholds(detector)
        return cls(detector.detector, portion_pyfunc.unwrap_python_model().estimator, thresholds, **kwargs)

    def __call__(self, images: Sequence[Image.Image]) -> list[PlateFindings]:
        images = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im)) for im in images]
        if not images:
            return []
        started = time.perf_counter()
        timings: dict[str, float] = {}
        if isinstance(self.detector, FoodDetector):  # stand-ins in tests take the images only
            detections = self.detector(list(images), timings=timings)
        else:
            detections = self.detector(list(images))
        detected = time.perf_counter()
        out = [self.findings(image, boxes) for image, boxes in zip(images, detections)]
        timings |= {
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
        # The scale is the photo's, not a box's: the coin, else a card, else the plate's rim, else none.
        food_boxes = [b.box for b in boxes if b.label != COIN and b.localiser_confidence >= self.thresholds.food]
        scale = find_reference(image, coin.box if coin else None, food_boxes, self.references)
        foods = served_foods(boxes, self.thresholds, lambda b: self.finding(image, b, scale))
        whole = False
        if not foods and self.whole_photo and getattr(self.detector, "namer", None) is not None:
            whole_box = self.whole_photo_box(image)
            if whole_box is not None:
                # no plate to find around a box that is the photo: only a coin or a card sizes it
                if scale.kind == "plate":
                    scale = find_reference(image, None, [], dataclasses.replace(self.references, find_plate=False))
                found = self.finding(image, whole_box, scale)
                foods, whole = ([found], True) if found is not None else ([], False)
        reference_box = scale.box.xyxy if scale.box is not None else None
        return PlateFindings(foods, scale.kind, reference_box, scale.mm_per_px, whole_photo=whole)

    def whole_photo_box(self, image: Image.Image):
        """The whole photo as one named food box (FoodBox), or None when it cannot be named."""
        from training.inference.boxes import Box
        from training.inference.food_detector import FoodBox

        box = Box(0.0, 0.0, float(image.width), float(image.height))
        features = self.detector.extractor([image])
        (naming,) = self.detector.namer.name(features)
        # No localiser confidence stands behind it: the naming's probability is all the confidence there is.
        return FoodBox(naming.name, naming.probability, box, 0.0, naming.probability, features[0], naming)

    def finding(self, image: Image.Image, b, scale) -> FoodFinding | None:
        """One food box → its finding: name (or unknown), grams with their range and what they rest on.

        A food the portion model knows gets its grams; another food (named by the ImageNet head, or unknown) the
        shared size prior when the photo has a scale, else an ImageNet food its household portion; an unknown food
        without a scale has no grams. None (left out, logged): a box that cannot be measured at all.
        """
        naming = getattr(b, "naming", None)
        extra = {}
        if getattr(b, "features", None) is not None:
            extra["embedding"] = embedding_of(b.features)
        if naming is not None:
            extra |= {
                "display": naming.display,
                "ndb": naming.ndb,
                "recognised_by": naming.recognised_by,
                "suggestions": tuple(dataclasses.asdict(s) for s in naming.suggestions),
            }
        try:
            features = getattr(b, "features", None)
            if features is None:  # boxes that come without their crop features
                features = self.detector.extractor([crop(image, b.box, self.detector.pad_fraction)])[0]
                extra["embedding"] = embedding_of(features)
            household = naming is not None and naming.serving_g and b.label not in FOOD_TYPES
            if household:
                low, high = HOUSEHOLD_RANGE
                grams = float(naming.serving_g)
                return FoodFinding(
                    b.label,
                    float(b.confidence),
                    b.box.xyxy,
                    grams,
                    grams * low,
                    grams * high,
                    grams_basis="household_portion",
                    portion=naming.portion,
                    **extra,
                )
            estimate = self.estimator.estimate(b.label, b.box, image.size, scale, None, features, image=image)
        except NoReferenceError:  # a food the portion model never saw, and nothing shows the photo's scale
            return FoodFinding(b.label, float(b.confidence), b.box.xyxy, None, None, None, grams_basis="none", **extra)
        except ValueError as exc:  # PortionInputError, or a box outside the image
            log.warning("skipping %s box %s: %s", b.label, b.box.xyxy, exc)
            return None
        return FoodFinding(
            b.label,
            float(b.confidence),
            b.box.xyxy,
            estimate.grams,
            estimate.low,
            estimate.high,
            grams_basis=getattr(estimate, "basis", "model"),
            **extra,
        )
