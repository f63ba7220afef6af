"""Portion accuracy: mass and kcal error, share within ±20 %, interval coverage; per photo and per item."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
import pandas as pd

from training.bootstrap import ItemBootstrap, ci_key


def ape(true_g: np.ndarray, pred_g: np.ndarray) -> np.ndarray:
    """Absolute percentage error of each estimate (a share: 0.1 is 10 %)."""
    true_g = np.asarray(true_g, dtype=np.float64)
    return np.abs(np.asarray(pred_g, dtype=np.float64) - true_g) / true_g


def mass_mape(true_g: np.ndarray, pred_g: np.ndarray) -> float:
    """Mean absolute percentage error of grams (a share: 0.1 is 10 %)."""
    return float(np.mean(ape(true_g, pred_g)))


def mass_errors(
    errors: np.ndarray, items: Sequence[Hashable] | None = None, bootstrap: ItemBootstrap | None = None
) -> dict[str, float | list[float]]:
    """Mean and median of per-photo gram errors (`ape`), and the share within ±20 %.

    With `bootstrap` (and each error's item in `items`), every figure gets its interval beside it (`*_ci95`).
    """
    errors = np.asarray(errors, dtype=np.float64)
    out = {
        "mass_mape": float(errors.mean()),
        "mass_median_ape": float(np.median(errors)),
        "within_20pct_mass": float((errors <= 0.2).mean()),
    }
    if bootstrap is not None:
        out[ci_key("mass_mape")] = bootstrap.mean(errors, items)
        out[ci_key("mass_median_ape")] = bootstrap.statistic(lambda rows: np.median(errors[rows]), items)
        out[ci_key("within_20pct_mass")] = bootstrap.mean(errors <= 0.2, items)
    return out


def log_error(true_g: np.ndarray, pred_g: np.ndarray) -> np.ndarray:
    """log(predicted / true grams) of each photo: the estimator's own scale (its interval is symmetric in it)."""
    return np.log(np.asarray(pred_g, dtype=np.float64)) - np.log(np.asarray(true_g, dtype=np.float64))


def error_summary(
    true_g: np.ndarray,
    pred_g: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    kcal_true: np.ndarray,
    kcal_pred: np.ndarray,
    items: Sequence[Hashable] | None = None,
    bootstrap: ItemBootstrap | None = None,
) -> dict[str, float | list[float]]:
    """Gram and kcal errors and interval coverage; with `bootstrap`, each figure's interval over `items` too."""
    kcal_ape = np.abs(kcal_pred - kcal_true) / np.maximum(kcal_true, 1e-9)
    inside = (true_g >= low) & (true_g <= high)
    out = {
        **mass_errors(ape(true_g, pred_g), items, bootstrap),
        "kcal_mape": float(kcal_ape.mean()),
        "within_20pct_kcal": float((kcal_ape <= 0.2).mean()),
        "interval_coverage": float(inside.mean()),
    }
    if bootstrap is not None:
        out[ci_key("kcal_mape")] = bootstrap.mean(kcal_ape, items)
        out[ci_key("within_20pct_kcal")] = bootstrap.mean(kcal_ape <= 0.2, items)
        out[ci_key("interval_coverage")] = bootstrap.mean(inside, items)
    return out


def evaluate(
    rows: pd.DataFrame,
    predicted: pd.DataFrame,
    kcal_of: Callable[[str, float], float],
    bootstrap: ItemBootstrap | None = None,
) -> dict:
    """Photo-level and item-level (mean over an item's photos, per food) summaries.

    rows: label, item_id, weight_g. predicted: grams, low, high (same order). With `bootstrap`, the photo-level
    figures get their item-level bootstrap intervals (the rows of the items drawn, recomputed).
    """
    frame = rows[["item_id", "label", "weight_g"]].reset_index(drop=True).join(predicted.reset_index(drop=True))
    kcal = lambda labels, grams: np.array([kcal_of(lab, g) for lab, g in zip(labels, grams)])  # noqa: E731
    photo = error_summary(
        frame["weight_g"].to_numpy(),
        frame["grams"].to_numpy(),
        frame["low"].to_numpy(),
        frame["high"].to_numpy(),
        kcal(frame["label"], frame["weight_g"]),
        kcal(frame["label"], frame["grams"]),
        frame["item_id"].tolist(),
        bootstrap,
    )
    items = frame.groupby(["item_id", "label"], as_index=False).mean(numeric_only=True)
    item = error_summary(
        items["weight_g"].to_numpy(),
        items["grams"].to_numpy(),
        items["low"].to_numpy(),
        items["high"].to_numpy(),
        kcal(items["label"], items["weight_g"]),
        kcal(items["label"], items["grams"]),
    )
    per_class = {
        label: {"mass_mape": mass_mape(g["weight_g"], g["grams"]), "n": len(g)} for label, g in frame.groupby("label")
    }
    return {"photo": photo, "item": item, "per_class": per_class}
