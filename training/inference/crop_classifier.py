"""Which food is in a box: a multinomial logistic regression head on frozen MobileNetV2 crop features.

Fitted by training/detector/fit.py (sklearn); applied here with numpy alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS_FILE = "crop_classifier.npz"


@dataclass(frozen=True)
class CropClassifier:
    """A linear softmax head over standardised features; numpy only, so serving needs no sklearn."""

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # [n_classes, n_features]
    intercept: np.ndarray  # [n_classes]

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """[N, n_classes] class probabilities."""
        features = np.atleast_2d(features)
        if features.shape[1] != self.coef.shape[1]:
            raise ValueError(f"features have {features.shape[1]} columns, the classifier expects {self.coef.shape[1]}")
        logits = ((features - self.mean) / self.scale) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, features: np.ndarray) -> list[str]:
        return [self.classes[i] for i in self.probabilities(features).argmax(axis=1)]

    def save(self, path: Path) -> None:
        np.savez(
            path,
            classes=np.array(self.classes),
            mean=self.mean,
            scale=self.scale,
            coef=self.coef,
            intercept=self.intercept,
        )

    @classmethod
    def load(cls, path: Path) -> CropClassifier:
        if not Path(path).is_file():
            raise FileNotFoundError(f"crop classifier not found: {path}")
        with np.load(path) as data:
            return cls(
                tuple(str(c) for c in data["classes"]), data["mean"], data["scale"], data["coef"], data["intercept"]
            )
