"""The portion estimator: log-grams and its uncertainty from class, view, calibrated size and crop features.

An ensemble of small networks, trained by training/portion/fit.py. Without a reference object it falls back to the
class's typical weight; for a food it never saw, to a size prior shared by all foods; each with the range its
validation errors call for, and a `basis` that says which answered.
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
    Scale,
    check_box,
    design_matrix,
    geometry,
    log_box_area,
    size_prior,
)

WEIGHTS_FILE = "portion.pt"
Z80 = 1.2815515655446004  # standard-normal quantile of 0.9: mean ± Z80·σ is an 80 % interval


BASES = ("model", "size_prior", "class_prior")


class NoReferenceError(PortionInputError):
    """A food the portion model never saw, in a photo without a reference object: no size to go by."""


@dataclass(frozen=True)
class PortionEstimate:
    """Grams with an 80 % range. basis: "model" (the network on the reference-scaled box), "size_prior" (a food
    the model never saw: the box's size × a prior shared by all foods) or "class_prior" (no reference: the
    food's typical weight)."""

    grams: float
    low: float
    high: float
    reference: str  # the Scale kind: "coin", "card", "plate" or "none"
    mm_per_px: float | None
    basis: str = "model"


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
        "class_prior",
        "agnostic_prior",
        "plate_sigma",
        "plate_diameter_mm",
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
        scale: Scale,
        view: str | None,
        crop_features: np.ndarray,
        image=None,
    ) -> PortionEstimate:
        """Grams with an 80 % range for one food box, on the photo's `scale` (`references.find_reference`).

        `image` (the photo) is for the fine-tuned estimator, which sees the crop's pixels; this one needs only
        `crop_features`.

        A food of the model's with a reference: the network, its range widened by the plate's scale error when
        the plate set the scale. Without a reference (kind "none"): the food's typical weight, with the range its
        spread over items calls for. A food the model never saw, with a reference: the box's size × a prior
        shared by all foods, with the range measured across foods.

        Raises:
            NoReferenceError: a food the model never saw, and no reference to size it by.
            PortionInputError: zero-size or out-of-image box.
        """
        width, height = image_size
        check_box(box, width, height)
        if scale.kind == "none" or scale.mm_per_px is None:
            return self._class_prior(food)
        widen = self.meta.get("plate_sigma", 0.0) if scale.kind == "plate" else 0.0
        size = geometry(box, scale)
        if food not in FOOD_TYPES:
            return self._size_prior(food, size, scale, widen)
        row = pd.DataFrame([{"label": food, "view": view, **size}])
        out = self.predict_frame(row, crop_features, np.array([widen]) if widen else None).iloc[0]
        return PortionEstimate(
            float(out["grams"]), float(out["low"]), float(out["high"]), scale.kind, scale.mm_per_px, "model"
        )

    def _class_prior(self, food: str) -> PortionEstimate:
        prior = self.meta.get("class_prior")
        if not prior or food not in prior["log_mean"]:
            raise NoReferenceError(
                f"no typical weight for {food!r} and no reference object (coin, card or plate) to size it by"
            )
        mu, sigma = prior["log_mean"][food], prior["log_sd"][food] * prior["sigma_scale"]
        return PortionEstimate(
            float(np.exp(mu)),
            float(np.exp(mu - Z80 * sigma)),
            float(np.exp(mu + Z80 * sigma)),
            "none",
            None,
            "class_prior",
        )

    def _size_prior(self, food: str, size: dict[str, float], scale: Scale, widen: float) -> PortionEstimate:
        prior = self.meta.get("agnostic_prior")
        if not prior:
            raise PortionInputError(f"no portion model for food {food!r}, and this model has no size prior")
        mu = prior["intercept"] + prior["slope"] * float(log_box_area(pd.DataFrame([size]))[0])
        half = float(np.hypot(prior["log_half_width"], Z80 * widen))
        return PortionEstimate(
            float(np.exp(mu)),
            float(np.exp(mu - half)),
            float(np.exp(mu + half)),
            scale.kind,
            scale.mm_per_px,
            "size_prior",
        )


__all__ = ["BASES", "NoReferenceError", "PortionEstimate", "PortionEstimator", "PortionInputError"]
