"""The whole detector as one framework-free predictor: photo → foods (named) and reference coins, with boxes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from training.inference.backbone import CropFeatureExtractor, crop
from training.inference.boxes import Box
from training.inference.crop_classifier import WEIGHTS_FILE as CLASSIFIER_FILE
from training.inference.crop_classifier import CropClassifier
from training.inference.labels import COIN
from training.inference.localiser import FOOD, WEIGHTS_FILE, Localiser
from training.inference.naming import FoodNamer, Naming

MAX_FOODS = 5  # foods named per photo, at most


@dataclass(frozen=True)
class FoodBox:
    """A named box. `confidence` = localiser confidence × classifier probability for foods.

    With a namer, a food's `label` is `naming.name` (an ECUSTFD type, an ImageNet food key or `unknown`) and its
    class probability the naming's; without one, the crop classifier's argmax and `naming` None.
    """

    label: str
    confidence: float
    box: Box
    localiser_confidence: float
    class_probability: float
    # The crop's MobileNetV2 features (foods only), kept so the portion estimator need not compute them again.
    features: np.ndarray | None = field(default=None, compare=False, repr=False)
    naming: Naming | None = field(default=None, compare=False)


class FoodDetector:
    """Localiser boxes → crop features → crop classifier (or, given one, the open-set namer) names each food box."""

    def __init__(
        self,
        localiser: Localiser,
        extractor: CropFeatureExtractor,
        classifier: CropClassifier,
        pad_fraction: float = 0.1,
        max_foods: int = MAX_FOODS,
        max_coins: int = 2,
        namer: FoodNamer | None = None,
    ):
        self.localiser, self.extractor, self.classifier, self.namer = localiser, extractor, classifier, namer
        self.pad_fraction, self.max_foods, self.max_coins = pad_fraction, max_foods, max_coins

    @classmethod
    def from_dirs(
        cls, detector_dir: Path, backbone_dir: Path, imgsz: int, conf: float, namer_dir: Path | None = None, **kwargs
    ) -> FoodDetector:
        """`conf`: the localiser's confidence floor, params `register_detector.conf` (no default, see `Localiser`).
        `namer_dir`: evaluate_openset's namer (params `paths.namer`); None names by the classifier's argmax."""
        namer = FoodNamer.from_dirs(detector_dir, backbone_dir, namer_dir) if namer_dir is not None else None
        return cls(
            Localiser(Path(detector_dir) / WEIGHTS_FILE, imgsz=imgsz, conf=conf),
            CropFeatureExtractor.from_dir(backbone_dir),
            CropClassifier.load(Path(detector_dir) / CLASSIFIER_FILE),
            namer=namer,
            **kwargs,
        )

    def __call__(self, images: list[Image.Image], timings: dict[str, float] | None = None) -> list[list[FoodBox]]:
        """For each RGB image: its coins and named foods, most confident first. `timings` (given) gets the ms
        of the `localiser` and of the `crops` (cutting, one backbone call for all of them, naming)."""
        import time

        started = time.perf_counter()
        raw = self.localiser(images)
        localised = time.perf_counter()
        crops, owners, out = [], [], []
        for i, (image, detections) in enumerate(zip(images, raw)):
            coins = [d for d in detections if d.label == COIN][: self.max_coins]
            out.append(
                [FoodBox(COIN, d.confidence, Box(d.xmin, d.ymin, d.xmax, d.ymax), d.confidence, 1.0) for d in coins]
            )
            for d in [d for d in detections if d.label == FOOD][: self.max_foods]:
                box = Box(d.xmin, d.ymin, d.xmax, d.ymax)
                if box.width < 1 or box.height < 1:
                    continue
                crops.append(crop(image, box, self.pad_fraction))
                owners.append((i, d, box))
        if crops:
            features = self.extractor(crops)
            for (i, d, box), (label, probability, naming), feats in zip(owners, self._names(features), features):
                out[i].append(FoodBox(label, d.confidence * probability, box, d.confidence, probability, feats, naming))
        if timings is not None:
            timings["localiser"] = (localised - started) * 1e3
            timings["crops"] = (time.perf_counter() - localised) * 1e3
        return [sorted(boxes, key=lambda b: -b.confidence) for boxes in out]

    def _names(self, features: np.ndarray) -> list[tuple[str, float, Naming | None]]:
        """(label, class probability, naming) per crop."""
        if self.namer is not None:
            return [(n.name, float(n.probability), n) for n in self.namer.name(features)]
        probabilities = self.classifier.probabilities(features)
        best = probabilities.argmax(axis=1)
        return [(self.classifier.classes[k], float(p[k]), None) for k, p in zip(best, probabilities)]
