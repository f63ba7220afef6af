"""What a person gets from one photo, scored: the served foods matched to the annotated ones, their grams, and
the meal's kcal.

`evaluate_portion` scores the portion estimator on annotated boxes with the annotated coin; here everything
comes from the served models (the detector's boxes, names and coin), so a missed food, a wrong name, a missed
coin or a duplicate box all show in the numbers, as they would in the bot's reply.

The coin counts as found only where the photo has an annotated coin and the served one overlaps it (IoU ≥ 0.5):
`coin_found` is a share of the photos with a coin; a coin served on a photo without one is a false reference,
`false_reference` a share of the photos without a coin (None when the split has none).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.bootstrap import ItemBootstrap, ci_key
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


Box = tuple[float, float, float, float]


def coin_matches(reference_box: Box | None, true_coin: Box | None, min_iou: float = MATCH_IOU) -> bool:
    """Whether the served coin stands for the annotated one: both there and overlapping by IoU ≥ min_iou."""
    if reference_box is None or true_coin is None:
        return False
    return bool(iou(np.asarray(true_coin, np.float64), np.asarray([reference_box], np.float64))[0] >= min_iou)


def score_photo(
    image: str,
    truths: Sequence[TrueFood],
    served: Sequence[ServedFood],
    reference: str,
    kcal_of: Callable[[str, float], float],
    baseline_grams: Callable[[str], float],
    *,
    reference_box: Box | None,
    true_coin: Box | None,
) -> tuple[list[dict], dict]:
    """One row per true food (matched or not) and one row for the photo's meal.

    The meal's kcal is what the reply adds up: every served food under the name it was given, duplicates and
    foods that are not there included. The baseline serves the same foods at their class-mean grams.
    `reference_box` is the served coin's box (None: no reference), `true_coin` the annotated one (None: none).
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
        "coin_annotated": true_coin is not None,
        "coin_found": coin_matches(reference_box if reference == "coin" else None, true_coin),
        "false_reference": reference == "coin" and true_coin is None,
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


def summarize(foods: pd.DataFrame, meals: pd.DataFrame, bootstrap: ItemBootstrap | None = None) -> dict:
    """Detection, grams (on the foods found) and meal kcal, model beside the class-mean baseline.

    With `bootstrap`, every share and mean gets its item-level interval beside it (`*_ci95`); the rows then need
    an `item_id` column.
    """
    found = foods[foods["found"]]

    def figures(**named: tuple) -> dict:
        """name=(per-row values, their rows) → the mean of each (None over no rows), its interval beside it."""
        out = {}
        for name, (values, rows) in named.items():
            values = np.asarray(values, dtype=np.float64)
            out[name] = float(values.mean()) if len(values) else None
            if bootstrap is not None:
                out[ci_key(name)] = bootstrap.mean(values, rows["item_id"].tolist()) if len(values) else None
        return out

    def meal(errors: np.ndarray, rows: pd.DataFrame) -> dict:
        return figures(meal_kcal_mape=(errors, rows), meal_within_20pct_kcal=(errors <= 0.2, rows))

    def grams(errors: np.ndarray) -> dict:
        return mass_errors(errors, found["item_id"].tolist() if bootstrap else None, bootstrap)

    kcal_ape, base_kcal_ape = (
        ape(meals["kcal_true"], meals["kcal_model"]),
        ape(meals["kcal_true"], meals["kcal_baseline"]),
    )
    inside = (found["weight_g"] >= found["low"]) & (found["weight_g"] <= found["high"])
    coin = meals[meals["coin_annotated"].astype(bool)]
    no_coin = meals[~meals["coin_annotated"].astype(bool)]
    clean = meals["clean"].to_numpy(bool)
    return {
        "n_photos": len(meals),
        "n_foods": len(foods),
        "n_photos_with_coin": len(coin),
        "n_photos_without_coin": len(no_coin),
        "detection": figures(
            food_found=(foods["found"], foods),
            food_found_and_named=(foods["named"] == foods["label"], foods),
            coin_found=(coin["coin_found"], coin),  # of the photos with a coin: IoU ≥ 0.5 with it
            false_reference=(no_coin["false_reference"], no_coin),  # of the photos without one
            extra_foods_per_photo=(meals["n_extra"], meals),
            clean_photos=(meals["clean"], meals),
        ),
        "model": {
            **grams(ape(found["weight_g"], found["grams"])),
            **figures(interval_coverage=(inside, found)),
            **meal(kcal_ape, meals),
            "clean_photos": meal(kcal_ape[clean], meals[clean]),
        },
        "class_mean": {**grams(ape(found["weight_g"], found["baseline_grams"])), **meal(base_kcal_ape, meals)},
    }
