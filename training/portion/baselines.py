"""The two baselines the portion model must beat: class-mean grams and calibrated-ellipsoid volume × density."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

INTERVAL = (0.10, 0.90)  # an 80 % interval


def ellipsoid_volume_ml(w_cm: np.ndarray, h_cm: np.ndarray, view: pd.Series) -> np.ndarray:
    """π/6·a·b·c from the box: a top view shows two horizontal axes (depth ≈ the shorter one); a side view
    shows width and height (depth ≈ width)."""
    w, h = np.asarray(w_cm, float), np.asarray(h_cm, float)
    depth = np.where(np.asarray(view) == "S", w, np.minimum(w, h))
    return np.pi / 6 * w * h * depth


@dataclass(frozen=True)
class ClassMeanBaseline:
    """Predicts each class's mean item weight (each training item counted once, not once per photo)."""

    mean: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]

    @classmethod
    def fit(cls, rows: pd.DataFrame) -> ClassMeanBaseline:
        items = rows.drop_duplicates(["item_id", "label"])
        grouped = items.groupby("label")["weight_g"]
        return cls(
            grouped.mean().to_dict(), grouped.quantile(INTERVAL[0]).to_dict(), grouped.quantile(INTERVAL[1]).to_dict()
        )

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {k: rows["label"].map(getattr(self, k)).to_numpy() for k in ("mean", "low", "high")}
        ).rename(columns={"mean": "grams"})


@dataclass(frozen=True)
class GeometricBaseline:
    """Grams = ellipsoid volume × a per-class factor (density × shape fill) fitted on training boxes."""

    factor: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]

    @classmethod
    def fit(cls, rows: pd.DataFrame) -> GeometricBaseline:
        ratio = rows["weight_g"] / ellipsoid_volume_ml(rows["w_cm"], rows["h_cm"], rows["view"])
        grouped = ratio.groupby(rows["label"])
        return cls(
            grouped.median().to_dict(), grouped.quantile(INTERVAL[0]).to_dict(), grouped.quantile(INTERVAL[1]).to_dict()
        )

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        volume = ellipsoid_volume_ml(rows["w_cm"], rows["h_cm"], rows["view"])
        return pd.DataFrame(
            {
                "grams": volume * rows["label"].map(self.factor).to_numpy(),
                "low": volume * rows["label"].map(self.low).to_numpy(),
                "high": volume * rows["label"].map(self.high).to_numpy(),
            }
        )
