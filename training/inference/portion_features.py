"""What the portion estimator sees of one food box: class, view, calibrated size in cm, and crop features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from training.inference.boxes import Box
from training.inference.labels import COIN_DIAMETER_MM, FOOD_TYPES

ReferenceKind = Literal["coin", "card", "plate", "none"]
VIEWS = ("S", "T")
TRAINING_WIDTH_PX = 816  # ECUSTFD photos are ~816 px wide: the typical scale is per pixel of such a photo


class PortionInputError(ValueError):
    """A box or reference that cannot be measured: no area, or outside the image."""


@dataclass(frozen=True)
class Scale:
    """Which reference set the photo's scale, its millimetres per pixel (None for kind "none"), and where it is.

    box: the reference's pixel box (for a plate, its ellipse's bounding box); ellipse: a plate's rim as
    (centre x, centre y, long axis, short axis, angle in degrees), in pixels.
    """

    kind: ReferenceKind
    mm_per_px: float | None
    box: Box | None = None
    ellipse: tuple[float, float, float, float, float] | None = None


def check_box(box: Box, width: int, height: int, what: str = "box") -> None:
    if box.width <= 0 or box.height <= 0:
        raise PortionInputError(f"{what} {box} has no area")
    if box.xmin < -1 or box.ymin < -1 or box.xmax > width + 1 or box.ymax > height + 1:
        raise PortionInputError(f"{what} {box} lies outside the {width}x{height} image")


def coin_scale(coin: Box, width: int, height: int) -> Scale:
    """The coin's diameter is its box's longer side (a tilted coin shows as an ellipse)."""
    check_box(coin, width, height, "coin box")
    return Scale("coin", COIN_DIAMETER_MM / max(coin.width, coin.height), coin)


def fallback_scale(image_width: int, typical_mm_per_px: float) -> Scale:
    """The old no-reference guess, kept as a baseline for the reports only: ECUSTFD's typical framing, per pixel
    of a same-width photo. It means nothing for a phone photo taken from another distance, so nothing serves it."""
    # A wider photo of the same scene has proportionally smaller pixels.
    return Scale("none", typical_mm_per_px * TRAINING_WIDTH_PX / max(image_width, 1))


def geometry(box: Box, scale: Scale) -> dict[str, float]:
    w = box.width * scale.mm_per_px / 10
    h = box.height * scale.mm_per_px / 10
    return {"w_cm": w, "h_cm": h}


def log_box_area(rows: pd.DataFrame) -> np.ndarray:
    return np.log(rows["w_cm"].to_numpy(np.float64) * rows["h_cm"].to_numpy(np.float64))


def fit_size_prior(rows: pd.DataFrame, slope: float) -> dict[str, float]:
    """Per-class intercepts of log grams = intercept + slope · log(box area in cm²), least squares on `rows`.

    Unlike the class mean, this prior scales with the box: an unusually large mooncake or small kiwi is not
    pulled back to its class's typical weight (the networks alone predicted mooncake006, 7.6 cm across where
    the other mooncakes measure 5 cm, at 49 g instead of 126 g).
    """
    residual = np.log(rows["weight_g"].to_numpy(np.float64)) - slope * log_box_area(rows)
    return pd.Series(residual).groupby(rows["label"].to_numpy()).mean().to_dict()


def size_prior(rows: pd.DataFrame, slope: float, intercepts: dict[str, float]) -> np.ndarray:
    """Log grams the size prior expects for each row (label, w_cm, h_cm); a class it never saw gets the mean intercept."""
    fallback = float(np.mean(list(intercepts.values())))
    return rows["label"].map(intercepts).fillna(fallback).to_numpy(np.float64) + slope * log_box_area(rows)


def design_matrix(rows: pd.DataFrame, pca_features: np.ndarray | None) -> np.ndarray:
    """Numeric inputs: one-hot class, view, log sizes, and (optionally) reduced crop features.

    rows needs: label, view (S/T or None), w_cm, h_cm.
    """
    onehot = np.zeros((len(rows), len(FOOD_TYPES)), dtype=np.float32)
    for i, label in enumerate(rows["label"]):
        onehot[i, FOOD_TYPES.index(label)] = 1
    view = np.stack([(rows["view"] == v).to_numpy(np.float32) for v in VIEWS], axis=1)
    w, h = rows["w_cm"].to_numpy(np.float64), rows["h_cm"].to_numpy(np.float64)
    sizes = np.stack(
        [np.log(w), np.log(h), log_box_area(rows), np.log(np.maximum(w, h)), np.log(np.minimum(w, h))], axis=1
    )
    parts = [onehot, view, sizes.astype(np.float32)]
    if pca_features is not None:
        parts.append(pca_features.astype(np.float32))
    return np.concatenate(parts, axis=1)
