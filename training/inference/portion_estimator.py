"""The portion estimator: log-grams and its uncertainty from class, view, calibrated size and crop features.

An ensemble of small networks, trained by training/portion/fit.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.inference.boxes import Box
from training.inference.labels import FOOD_TYPES
from training.inference.portion_features import (
    PortionInputError,
    check_box,
    coin_scale,
    design_matrix,
    fallback_scale,
    geometry,
    size_prior,
)

WEIGHTS_FILE = "portion.pt"
Z80 = 1.2815515655446004  # standard-normal quantile of 0.9: mean ± Z80·σ is an 80 % interval


@dataclass(frozen=True)
class PortionEstimate:
    grams: float
    low: float
    high: float
    reference: str  # "coin" or "none"
    mm_per_px: float


def network(n_in: int, hidden: int, dropout: float):
    """One member of the ensemble: features → (mean, raw σ) of standardised log grams."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.GELU(),
        nn.Linear(hidden, 2),
    )


# What this code knows how to apply. A model saved by newer code may carry more, and ignoring a setting
# (e.g. the size prior added to half the members) would give confident, wrong grams.
KNOWN_META = frozenset(
    {
        "n_inputs",
        "hidden",
        "x_mean",
        "x_scale",
        "pca_mean",
        "pca_components",
        "sigma_scale",
        "typical_mm_per_px",
        "no_reference_sigma",
        "log_half_width",
        "size_prior",
        "prior_members",
    }
)


class PortionEstimator:
    """Framework-free predictor built from the saved artifact (an ensemble of small networks)."""

    def __init__(self, members: list[dict], meta: dict):
        import torch

        unknown = sorted(set(meta) - KNOWN_META)
        if unknown:
            raise ValueError(f"this portion model needs newer code than {__file__}: it sets {unknown}")
        self.meta, self.members = meta, members
        self.nets, self.y_norms = [], []
        for state in members:
            state = dict(state)
            self.y_norms.append((float(state.pop("y_mean", 0.0)), float(state.pop("y_std", 1.0))))
            net = network(meta["n_inputs"], meta["hidden"], 0.0)
            net.load_state_dict(state)
            self.nets.append(net.eval())
        self.mean, self.scale = np.array(meta["x_mean"], np.float32), np.array(meta["x_scale"], np.float32)
        self.pca_mean, self.pca = np.array(meta["pca_mean"], np.float32), np.array(meta["pca_components"], np.float32)
        self._torch = torch

    @classmethod
    def load(cls, directory: Path) -> PortionEstimator:
        path = Path(directory) / WEIGHTS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"portion estimator not found: {path} (run `dvc repro train_portion`)")
        import torch

        saved = torch.load(path, map_location="cpu", weights_only=True)
        return cls(saved["members"], json.loads(saved["meta"]))

    def save(self, directory: Path) -> None:
        import torch

        torch.save({"members": self.members, "meta": json.dumps(self.meta)}, Path(directory) / WEIGHTS_FILE)

    def reduce(self, crop_features: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(crop_features) - self.pca_mean) @ self.pca.T

    def predict_frame(
        self, rows: pd.DataFrame, crop_features: np.ndarray, widen: np.ndarray | None = None
    ) -> pd.DataFrame:
        """grams, low, high for rows with label, view, w_cm, h_cm (and [N, 1280] crop features)."""
        x = (design_matrix(rows, self.reduce(crop_features)) - self.mean) / self.scale
        with self._torch.no_grad():
            outs = np.stack([net(self._torch.from_numpy(x.astype(np.float32))).numpy() for net in self.nets])
        y_mean, y_std = (np.array(v)[:, None] for v in zip(*self.y_norms))
        mu = outs[:, :, 0] * y_std + y_mean
        prior_members = self.meta.get("prior_members") or [False] * len(self.nets)
        if any(prior_members):  # these members predict log grams relative to the size prior
            mu = mu + np.array(prior_members, float)[:, None] * size_prior(rows, **self.meta["size_prior"])[None]
        mean_mu = mu.mean(axis=0)
        if self.meta.get("log_half_width"):
            # Calibrated on new items: their error is mostly a per-item bias the ensemble's σ does not see.
            sigma = np.full_like(mean_mu, self.meta["log_half_width"] / Z80)
        else:
            sigma_aleatoric = np.log1p(np.exp(outs[:, :, 1])) * y_std
            sigma = np.sqrt((sigma_aleatoric**2).mean(axis=0) + mu.var(axis=0)) * self.meta["sigma_scale"]
        if widen is not None:
            sigma = np.sqrt(sigma**2 + widen**2)
        return pd.DataFrame(
            {"grams": np.exp(mean_mu), "low": np.exp(mean_mu - Z80 * sigma), "high": np.exp(mean_mu + Z80 * sigma)}
        )

    def estimate(
        self,
        food: str,
        box: Box,
        image_size: tuple[int, int],
        reference: Box | None,
        view: str | None,
        crop_features: np.ndarray,
    ) -> PortionEstimate:
        """Grams with an 80 % range for one food box; without a reference the range widens and says so.

        Raises:
            PortionInputError: zero-size or out-of-image box, unknown food.
        """
        width, height = image_size
        check_box(box, width, height)
        if food not in FOOD_TYPES:
            raise PortionInputError(f"no portion model for food {food!r}")
        scale = (
            coin_scale(reference, width, height)
            if reference is not None
            else fallback_scale(width, self.meta["typical_mm_per_px"])
        )
        widen = None if scale.reference == "coin" else np.array([self.meta["no_reference_sigma"]])
        row = pd.DataFrame([{"label": food, "view": view, **geometry(box, scale)}])
        out = self.predict_frame(row, crop_features, widen).iloc[0]
        return PortionEstimate(
            float(out["grams"]), float(out["low"]), float(out["high"]), scale.reference, scale.mm_per_px
        )


__all__ = ["PortionEstimate", "PortionEstimator", "PortionInputError"]
