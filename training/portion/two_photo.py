"""Two photos of one food: a top view and a side view paired by item and shot, their single-photo estimates
stacked with a top × side volume law (the side view shows the height the top view cannot)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PAIR_KEY = ["item_id", "label", "shot"]


def pairs(rows: pd.DataFrame, log_grams: np.ndarray) -> pd.DataFrame:
    """One row per (item, food, shot) with both a top (T) and a side (S) photo: their log grams (`log_t`,
    `log_s`), box sizes and the item's weight. ECUSTFD shoots each item's views in turns, so shot k of the top view
    and shot k of the side view were taken one after the other, as a person sending a second photo would.

    rows: item_id, label, view, shot, w_cm, h_cm, weight_g (and fold, kept when present).
    """
    frame = rows.reset_index(drop=True).assign(log_pred=np.asarray(log_grams, np.float64))
    keep = [*PAIR_KEY, "w_cm", "h_cm", "log_pred", "weight_g", *(["fold"] if "fold" in frame else [])]
    top = frame.loc[frame["view"] == "T", keep].drop_duplicates(PAIR_KEY)
    side = frame.loc[frame["view"] == "S", [*PAIR_KEY, "w_cm", "h_cm", "log_pred"]].drop_duplicates(PAIR_KEY)
    joined = top.merge(side, on=PAIR_KEY, suffixes=("_t", "_s"))
    return joined.rename(columns={"log_pred_t": "log_t", "log_pred_s": "log_s"}).reset_index(drop=True)


def log_volume(p: pd.DataFrame) -> np.ndarray:
    """log(top width × top height × side height) in cm³: an ellipsoid's volume up to a constant."""
    return np.log(
        p["w_cm_t"].to_numpy(np.float64) * p["h_cm_t"].to_numpy(np.float64) * p["h_cm_s"].to_numpy(np.float64)
    )


@dataclass(frozen=True)
class PairStacker:
    """log grams = a·top estimate + b·side estimate + c·volume law + d, the volume law being a per-food intercept +
    a shared slope on `log_volume`; all fitted by least squares on training pairs (out-of-fold estimates)."""

    weights: tuple[float, float, float, float]
    slope: float
    intercepts: dict[str, float]

    @classmethod
    def fit(cls, p: pd.DataFrame) -> PairStacker:
        y, lv, label = np.log(p["weight_g"].to_numpy(np.float64)), log_volume(p), p["label"].to_numpy()
        centre = lambda v: v - pd.Series(v).groupby(label).transform("mean").to_numpy()  # noqa: E731
        dv = centre(lv)
        slope = float(dv @ centre(y) / max(dv @ dv, 1e-12))
        intercepts = pd.Series(y - slope * lv).groupby(label).mean().to_dict()
        law = cls((0.0, 0.0, 1.0, 0.0), slope, intercepts)
        x = law.design(p)
        weights = np.linalg.lstsq(x, y, rcond=None)[0]
        return cls(tuple(float(w) for w in weights), slope, {k: float(v) for k, v in intercepts.items()})

    def volume_law(self, p: pd.DataFrame) -> np.ndarray:
        fallback = float(np.mean(list(self.intercepts.values())))
        return p["label"].map(self.intercepts).fillna(fallback).to_numpy(np.float64) + self.slope * log_volume(p)

    def design(self, p: pd.DataFrame) -> np.ndarray:
        return np.column_stack([p["log_t"], p["log_s"], self.volume_law(p), np.ones(len(p))])

    def predict(self, p: pd.DataFrame) -> np.ndarray:
        """Log grams of each pair."""
        return self.design(p) @ np.array(self.weights)


def pair_cv(p: pd.DataFrame) -> np.ndarray:
    """Out-of-fold stacked log grams: each fold's pairs by a stacker fitted on the other folds' pairs (`fold`)."""
    out = np.full(len(p), np.nan)
    for fold in sorted(p["fold"].unique()):
        held = (p["fold"] == fold).to_numpy()
        out[held] = PairStacker.fit(p[~held]).predict(p[held])
    return out
