"""Which food is in a box: multinomial logistic regression on frozen MobileNetV2 crop features."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

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
        np.savez(path, classes=np.array(self.classes), mean=self.mean, scale=self.scale, coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, path: Path) -> CropClassifier:
        if not Path(path).is_file():
            raise FileNotFoundError(f"crop classifier not found: {path}")
        with np.load(path) as data:
            return cls(tuple(str(c) for c in data["classes"]), data["mean"], data["scale"], data["coef"], data["intercept"])


def fit(features: np.ndarray, labels: Sequence[str], c: float, seed: int = 0) -> CropClassifier:
    """Fit the head on (features, labels) with inverse regularisation strength `c`."""
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    model.fit((features - mean) / scale, np.asarray(labels))
    return CropClassifier(tuple(str(c) for c in model.classes_), mean, scale, model.coef_, model.intercept_)


def select_and_fit(
    train: tuple[np.ndarray, Sequence[str]], val: tuple[np.ndarray, Sequence[str]], grid: Sequence[float], seed: int = 0
) -> tuple[CropClassifier, dict[float, float]]:
    """Pick C by top-1 on the validation items, then refit on train + val with that C.

    Returns:
        The refitted classifier and the validation top-1 for each C tried.
    """
    scores = {}
    for c in grid:
        model = fit(train[0], train[1], c, seed)
        scores[c] = float(np.mean(np.array(model.predict(val[0])) == np.asarray(val[1])))
        log.info("crop classifier C=%g: val top-1 %.4f", c, scores[c])
    best = max(grid, key=lambda c: (scores[c], -c))  # ties → stronger regularisation
    both = (np.concatenate([train[0], val[0]]), [*train[1], *val[1]])
    return fit(both[0], both[1], best, seed), scores
