"""What a person gets from one photo, scored: the served foods matched to the annotated ones, their grams, and
the meal's kcal.

`evaluate_portion` scores the portion estimator on annotated boxes with the annotated coin; here everything
comes from the served models (the detector's boxes, names and coin), so a missed food, a wrong name, a missed
coin or a duplicate box all show in the numbers, as they would in the bot's reply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.inference.boxes import iou
from training.portion.metrics import ape, mass_errors

MATCH_IOU = 0.5


@dataclass(frozen=True)
class TrueFood:
    label: str
    box: tuple[float, float, float, float]
    weight_g: float


@dataclass(frozen=True)
class ServedFood:
    name: str
    box: tuple[float, float, float, float]
    grams: float
    low: float
    high: float


def match_foods(
    truths: Sequence[TrueFood], served: Sequence[ServedFood], min_iou: float = MATCH_IOU
) -> list[int | None]:
    """For each true food, the index of the served food that stands for it (one-to-one, largest overlaps first)."""
    if not truths or not served:
        return [None] * len(truths)
    overlaps = np.stack(
        [iou(np.asarray(t.box, np.float64), np.asarray([s.box for s in served], np.float64)) for t in truths]
    )
    matched: list[int | None] = [None] * len(truths)
    taken: set[int] = set()
    for flat in np.argsort(-overlaps, axis=None, kind="stable"):
        i, j = divmod(int(flat), len(served))
        if overlaps[i, j] < min_iou:
            break
        if matched[i] is None and j not in taken:
            matched[i] = j
            taken.add(j)
    return matched


def score_photo(
    image: str,
    truths: Sequence[TrueFood],
    served: Sequence[ServedFood],
    reference: str,
    kcal_of: Callable[[str, float], float],
    baseline_grams: Callable[[str], float],
) -> tuple[list[dict], dict]:
    """One row per true food (matched or not) and one row for the photo's meal.

    The meal's kcal is what the reply adds up: every served food under the name it was given, duplicates and
    foods that are not there included. The baseline serves the same foods at their class-mean grams.
    """
    matched = match_foods(truths, served)
    foods = []
    for truth, j in zip(truths, matched):
        row = {
            "image": image,
            "label": truth.label,
            "weight_g": truth.weight_g,
            "found": j is not None,
            "named": None,
            "grams": np.nan,
            "low": np.nan,
            "high": np.nan,
            "baseline_grams": np.nan,
        }
        if j is not None:
            s = served[j]
            row.update(named=s.name, grams=s.grams, low=s.low, high=s.high, baseline_grams=baseline_grams(s.name))
        foods.append(row)
    meal = {
        "image": image,
        "reference": reference,
        "n_true": len(truths),
        "n_extra": len(served) - sum(j is not None for j in matched),
        # every food found under its own name and nothing else listed: what is left is the grams' error
        "clean": len(served) == len(truths)
        and all(j is not None and served[j].name == t.label for t, j in zip(truths, matched)),
        "kcal_true": sum(kcal_of(t.label, t.weight_g) for t in truths),
        "kcal_model": sum(kcal_of(s.name, s.grams) for s in served),
        "kcal_baseline": sum(kcal_of(s.name, baseline_grams(s.name)) for s in served),
    }
    return foods, meal


def summarize(foods: pd.DataFrame, meals: pd.DataFrame) -> dict:
    """Detection, grams (on the foods found) and meal kcal, model beside the class-mean baseline."""
    found = foods[foods["found"]]
    kcal_ape, base_kcal_ape = (
        ape(meals["kcal_true"], meals["kcal_model"]),
        ape(meals["kcal_true"], meals["kcal_baseline"]),
    )
    meal = lambda a: {"meal_kcal_mape": float(a.mean()), "meal_within_20pct_kcal": float((a <= 0.2).mean())}  # noqa: E731
    inside = (found["weight_g"] >= found["low"]) & (found["weight_g"] <= found["high"])
    return {
        "n_photos": len(meals),
        "n_foods": len(foods),
        "detection": {
            "food_found": float(foods["found"].mean()),
            "food_found_and_named": float((foods["named"] == foods["label"]).mean()),
            "coin_found": float((meals["reference"] == "coin").mean()),
            "extra_foods_per_photo": float(meals["n_extra"].mean()),
            "clean_photos": float(meals["clean"].mean()),
        },
        "model": {
            **mass_errors(ape(found["weight_g"], found["grams"])),
            "interval_coverage": float(inside.mean()),
            **meal(kcal_ape),
            "clean_photos": meal(kcal_ape[meals["clean"].to_numpy(bool)]),
        },
        "class_mean": {**mass_errors(ape(found["weight_g"], found["baseline_grams"])), **meal(base_kcal_ape)},
    }
