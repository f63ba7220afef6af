"""The answers the portion estimator gives when its network cannot: a food's typical weight (no reference object)
and a size prior shared by all foods (a food it never saw), each fitted on training items and its range set on
validation photos."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.inference.portion_estimator import Z80
from training.inference.portion_features import fit_size_prior, log_box_area

TARGET_COVERAGE = 0.8
MIN_LOG_SD = 0.05  # one item per food gives no spread at all: no food's weight is known better than ±5 %
SHRINK_ITEMS = 2.0  # a food's log-sd is pulled toward the pooled one as if it had this many more items


def item_log_grams(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (item, food): its log grams; an item weighed once counts once, however many photos it has."""
    items = rows.drop_duplicates(["item_id", "label"])
    return items.assign(log_g=np.log(items["weight_g"].to_numpy(np.float64)))[["item_id", "label", "log_g"]]


def fit_class_prior(train: pd.DataFrame, val: pd.DataFrame) -> dict:
    """Per food: mean and sd of log grams over its training items; one factor (at least 1) on the sd so that
    mean ± 1.28·sd covers 80 % of the validation photos.

    A food with few training items (grape has one) gets an sd shrunk toward the pooled within-food sd rather
    than a range of zero width.
    """
    items = item_log_grams(train)
    grouped = items.groupby("label")["log_g"]
    deviations = items["log_g"] - grouped.transform("mean")
    pooled = float(np.sqrt((deviations**2).sum() / max(len(items) - grouped.ngroups, 1)))
    n, ss = grouped.count(), (deviations**2).groupby(items["label"]).sum()
    log_sd = np.maximum(np.sqrt((ss + SHRINK_ITEMS * pooled**2) / (n - 1 + SHRINK_ITEMS)), MIN_LOG_SD)
    prior = {"log_mean": grouped.mean().to_dict(), "log_sd": log_sd.to_dict(), "sigma_scale": 1.0}
    seen = val[val["label"].isin(prior["log_mean"])]
    if seen.empty:
        return {**prior, "pooled_log_sd": pooled}
    z = np.abs(np.log(seen["weight_g"].to_numpy(np.float64)) - seen["label"].map(prior["log_mean"]).to_numpy())
    ratio = z / seen["label"].map(prior["log_sd"]).to_numpy()
    # never narrower than the training items' own spread: validation items that repeat the training weights (a
    # food with one item, a tiny smoke run) would otherwise shrink the range to nothing
    prior["sigma_scale"] = max(1.0, float(np.quantile(ratio, TARGET_COVERAGE) / Z80))
    prior["pooled_log_sd"] = pooled
    return prior


def class_prior_frame(rows: pd.DataFrame, prior: dict, z80: float) -> pd.DataFrame:
    """grams, low, high of the class prior for each row (label)."""
    mu = rows["label"].map(prior["log_mean"]).to_numpy(np.float64)
    sigma = rows["label"].map(prior["log_sd"]).to_numpy(np.float64) * prior["sigma_scale"]
    return pd.DataFrame({"grams": np.exp(mu), "low": np.exp(mu - z80 * sigma), "high": np.exp(mu + z80 * sigma)})


def leave_food_out_log_grams(rows: pd.DataFrame, slope: float, intercepts: dict[str, float]) -> np.ndarray:
    """The shared size prior's log grams for each row as if its food were unknown: the mean intercept of the
    other foods, so a food's own items never set the prior they are scored by."""
    values = np.array(list(intercepts.values()))
    total, count = values.sum(), len(values)
    own = rows["label"].map(intercepts)
    intercept = np.where(own.notna(), (total - own.fillna(0)) / max(count - 1, 1), total / count)
    return intercept + slope * log_box_area(rows)


def fit_agnostic_prior(train: pd.DataFrame, val: pd.DataFrame, slope: float) -> dict:
    """log grams = mean intercept + slope · log(box cm²), for a food the model never saw; its 80 % log
    half-width is the 80th percentile of the leave-food-out errors on validation photos (every food in turn
    played the unknown one)."""
    intercepts = fit_size_prior(train, slope)
    scored = val if len(val) else train
    error = leave_food_out_log_grams(scored, slope, intercepts) - np.log(scored["weight_g"].to_numpy(np.float64))
    return {
        "slope": float(slope),
        "intercept": float(np.mean(list(intercepts.values()))),
        "log_half_width": float(np.quantile(np.abs(error), TARGET_COVERAGE)),
        "intercepts": {k: float(v) for k, v in intercepts.items()},
    }


def with_priors(estimator, train: pd.DataFrame, val: pd.DataFrame, slope: float | None, **meta):
    """A copy of `estimator` that also answers without a reference (class prior) and for foods it never saw
    (shared size prior), both fitted on `train` rows (coin-scaled) and their ranges set on `val`; `meta` adds
    further settings (plate_sigma, plate_diameter_mm)."""
    from training.inference.portion_estimator import PortionEstimator

    train, val = train.reset_index(drop=True), val.reset_index(drop=True)
    priors = {
        "class_prior": fit_class_prior(train, val),
        "agnostic_prior": fit_agnostic_prior(train, val, slope or 1.0),
    }
    return PortionEstimator(estimator.members, {**estimator.meta, **priors, **meta})
