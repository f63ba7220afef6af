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

MAX_FOODS = 5  # foods named per photo, at most


@dataclass(frozen=True)
class FoodBox:
    """A named box. `confidence` = localiser confidence × classifier probability for foods."""

    label: str
    confidence: float
    box: Box
    localiser_confidence: float
    class_probability: float
    # The crop's MobileNetV2 features (foods only), kept so the portion estimator need not compute them again.
    features: np.ndarray | None = field(default=None, compare=False, repr=False)


class FoodDetector:
    """Localiser boxes → crop features → crop classifier names each food box."""

    def __init__(
        self,
        localiser: Localiser,
        extractor: CropFeatureExtractor,
        classifier: CropClassifier,
        pad_fraction: float = 0.1,
        max_foods: int = MAX_FOODS,
        max_coins: int = 2,
    ):
        self.localiser, self.extractor, self.classifier = localiser, extractor, classifier
        self.pad_fraction, self.max_foods, self.max_coins = pad_fraction, max_foods, max_coins

    @classmethod
    def from_dirs(cls, detector_dir: Path, backbone_dir: Path, imgsz: int, conf: float, **kwargs) -> FoodDetector:
        """`conf`: the localiser's confidence floor, params `register_detector.conf` (no default, see `Localiser`)."""
        return cls(
            Localiser(Path(detector_dir) / WEIGHTS_FILE, imgsz=imgsz, conf=conf),
            CropFeatureExtractor.from_dir(backbone_dir),
            CropClassifier.load(Path(detector_dir) / CLASSIFIER_FILE),
            **kwargs,
        )

    def __call__(self, images: list[Image.Image]) -> list[list[FoodBox]]:
        """For each RGB image: its coins and named foods, most confident first."""
        raw = self.localiser(images)
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
            probabilities = self.classifier.probabilities(features)
            for (i, d, box), probs, feats in zip(owners, probabilities, features):
                best = int(np.argmax(probs))
                out[i].append(
                    FoodBox(
                        self.classifier.classes[best],
                        d.confidence * float(probs[best]),
                        box,
                        d.confidence,
                        float(probs[best]),
                        feats,
                    )
                )
        return [sorted(boxes, key=lambda b: -b.confidence) for boxes in out]
