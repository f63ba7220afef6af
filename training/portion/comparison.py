"""Frozen vs fine-tuned vs two-photo portion estimates side by side: CV over train+val (out-of-fold) and test, photo
and item level, with item-bootstrap intervals; and what the remaining error is made of (per item vs per photo)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from training.bootstrap import ItemBootstrap
from training.portion.fit import TARGET_COVERAGE
from training.portion.metrics import ape, evaluate
from training.portion.two_photo import PairStacker, pair_cv, pairs

GOAL_MASS_MAPE = 0.08  # the goal: mass MAPE ≤ 8 % and ≥ 92 % of photos within ±20 % kcal
GOAL_WITHIN_20PCT_KCAL = 0.92


def with_interval(log_grams: np.ndarray, half_width: float) -> pd.DataFrame:
    """grams, low, high: one log half-width around each estimate."""
    log_grams = np.asarray(log_grams, np.float64)
    return pd.DataFrame(
        {"grams": np.exp(log_grams), "low": np.exp(log_grams - half_width), "high": np.exp(log_grams + half_width)}
    )


def half_width(log_grams: np.ndarray, weight_g: np.ndarray) -> float:
    """The 80th percentile of out-of-fold |log errors|: the interval each model ships (train_portion's rule)."""
    return float(np.quantile(np.abs(np.asarray(log_grams) - np.log(np.asarray(weight_g, np.float64))), TARGET_COVERAGE))


def error_makeup(rows: pd.DataFrame, log_grams: np.ndarray) -> dict:
    """The mean squared log error split into its per-item part (the squared mean error of each item's photos,
    averaged over photos) and its per-photo part (the photos' spread around their item's mean error)."""
    err = pd.Series(np.asarray(log_grams) - np.log(rows["weight_g"].to_numpy(np.float64)))
    item_mean = err.groupby([rows["item_id"].to_numpy(), rows["label"].to_numpy()]).transform("mean")
    per_item, per_photo = float((item_mean**2).mean()), float(((err - item_mean) ** 2).mean())
    return {
        "rms_log_error": float(np.sqrt((err**2).mean())),
        "per_item_mean_square": per_item,
        "per_photo_mean_square": per_photo,
        "per_item_share": per_item / max(per_item + per_photo, 1e-12),
        "rms_per_item": float(np.sqrt(per_item)),
    }


def scored(rows: pd.DataFrame, frame: pd.DataFrame, kcal_of: Callable, bootstrap: ItemBootstrap) -> dict:
    """evaluate()'s photo, item and per-class figures, the photo figures with bootstrap intervals."""
    return evaluate(rows, frame, kcal_of, bootstrap)


def goal(photo: dict) -> dict:
    """Whether the figure itself meets each goal, and how far off it is (positive: short of it)."""
    return {
        "mass_mape_goal": GOAL_MASS_MAPE,
        "mass_mape_met": photo["mass_mape"] <= GOAL_MASS_MAPE,
        "mass_mape_gap": photo["mass_mape"] - GOAL_MASS_MAPE,
        "within_20pct_kcal_goal": GOAL_WITHIN_20PCT_KCAL,
        "within_20pct_kcal_met": photo["within_20pct_kcal"] >= GOAL_WITHIN_20PCT_KCAL,
        "within_20pct_kcal_gap": GOAL_WITHIN_20PCT_KCAL - photo["within_20pct_kcal"],
    }


def single_photo_section(cv_rows, cv_log, test_rows, test_log, kcal_of) -> tuple[dict, pd.DataFrame]:
    """One single-photo model: CV (its out-of-fold estimates on train+val) and test, each with its intervals.

    Returns:
        (section, test frame of grams/low/high).
    """
    half = half_width(cv_log, cv_rows["weight_g"])
    cv = scored(cv_rows, with_interval(cv_log, half), kcal_of, ItemBootstrap(cv_rows["item_id"]))
    test_frame = with_interval(test_log, half)
    test = scored(test_rows, test_frame, kcal_of, ItemBootstrap(test_rows["item_id"]))
    section = {
        "cv": {"photo": cv["photo"], "item": cv["item"], "error_makeup": error_makeup(cv_rows, cv_log)},
        "test": {"photo": test["photo"], "item": test["item"], "error_makeup": error_makeup(test_rows, test_log)},
        "test_per_class": test["per_class"],
        "log_half_width": half,
        "goal_on_test": goal(test["photo"]),
    }
    return section, test_frame


def pair_rows(p: pd.DataFrame) -> pd.DataFrame:
    """A pair as a row evaluate() can score: its item, food and weight; the top photo's view."""
    return p.assign(view="T")[["item_id", "label", "weight_g"]]


def two_photo_section(cv_rows, cv_log, test_rows, test_log, kcal_of) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Top + side photo pairs of the same item and shot, the single-photo model's two estimates stacked with the
    volume law: pair-level CV (the stacker fitted on the other folds' out-of-fold pairs) and test (fitted on all
    train+val pairs); beside it, the top photo alone on the same pairs.

    cv_rows need `fold` and `shot`; test_rows `shot`.

    Returns:
        (section, test pairs, their stacked frame).
    """
    cv_pairs, test_pairs = pairs(cv_rows, cv_log), pairs(test_rows, test_log)
    stacked_cv = pair_cv(cv_pairs)
    half = half_width(stacked_cv, cv_pairs["weight_g"])
    stacker = PairStacker.fit(cv_pairs)
    stacked_test = stacker.predict(test_pairs)
    out = {"n_cv_pairs": len(cv_pairs), "n_test_pairs": len(test_pairs), "stacker": stacker.__dict__}
    frames = {}
    for split, p, stacked in (("cv", cv_pairs, stacked_cv), ("test", test_pairs, stacked_test)):
        bootstrap = ItemBootstrap(p["item_id"])
        rows = pair_rows(p)
        top_half = half_width(p["log_t"], p["weight_g"]) if split == "cv" else out["cv"]["top_half_width"]
        both = scored(rows, with_interval(stacked, half), kcal_of, bootstrap)
        top = scored(rows, with_interval(p["log_t"], top_half), kcal_of, bootstrap)
        # the gain on the same pairs, its interval from the same item draws (a paired bootstrap)
        gain = ape(p["weight_g"], np.exp(p["log_t"])) - ape(p["weight_g"], np.exp(stacked))
        out[split] = {
            "photo": both["photo"],
            "item": both["item"],
            "top_alone": top["photo"],
            "gain_over_top_alone": float(gain.mean()),
            "gain_over_top_alone_ci95": bootstrap.mean(gain, p["item_id"].tolist()),
            "top_half_width": top_half,
            "error_makeup": error_makeup(rows, stacked),
        }
        frames[split] = with_interval(stacked, half)
        if split == "test":
            out["test_per_class"] = both["per_class"]
    out["goal_on_test"] = goal(out["test"]["photo"])
    out["log_half_width"] = half
    return out, test_pairs, frames["test"]


def choose(cv_mass_mape: dict[str, float], min_gain: float) -> str:
    """ "fine_tuned" only when its CV mass MAPE is below the frozen one's by at least `min_gain`, else "frozen"."""
    return "fine_tuned" if cv_mass_mape["fine_tuned"] <= cv_mass_mape["frozen"] - min_gain else "frozen"
