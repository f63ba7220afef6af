"""Fix the last meal with a correction `nutrition.corrections` read ("that was a pear", "it was 150 g", "remove the
bread"), through the store, which also keeps it as a labelled example for retraining. Blocking: call from a
worker thread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.storage.protocols import MealStore
from bot.storage.records import DayTotals, ItemRecord, MealRecord
from nutrition.corrections import RELABEL, REMOVE, Correction
from nutrition.meal_text import known_food, singular_forms
from nutrition.usda_table import NutritionTable, UnknownFoodError


class CorrectionError(ValueError):
    """A correction we can't apply; the message is for the person."""


@dataclass(frozen=True)
class Fixed:
    before: ItemRecord
    after: ItemRecord | None
    meal: MealRecord
    totals: DayTotals
    index: int = 0  # of the item in the meal before the correction
    kind: str = ""  # nutrition.corrections: relabel, grams or remove


def _matches(item: ItemRecord, words: str) -> bool:
    name = known_food(words)
    if name is not None and item.name in (name.ndb, words):
        return True
    forms = set(singular_forms(words.strip()))
    return any(f in item.display_name.lower() or f == item.name for f in forms)


def pick_item(meal: MealRecord, correction: Correction) -> int:
    """The item the correction is about: the one it names, the only one, or the least confident one."""
    named = correction.target or (correction.food if correction.kind == REMOVE else None)
    names = ", ".join(dict.fromkeys(i.display_name for i in meal.items))
    if named:
        for index, item in enumerate(meal.items):
            if _matches(item, named):
                return index
        raise CorrectionError(f'I can\'t find "{named}" in your last meal ({names}).')
    if len(meal.items) == 1:
        return 0
    return min(range(len(meal.items)), key=lambda i: (meal.items[i].confidence, i))


def relabelled(item: ItemRecord, food: str, table: NutritionTable) -> ItemRecord:
    """`item` as `food`, same grams. Photo grams weigh the whole item, so a food the photo model knows
    (ECUSTFD types such as 'pear') counts its edible part only."""
    name = known_food(food)
    if name is None:
        raise CorrectionError(f'I don\'t know "{food}" well enough to log it; try a common name, e.g. "pear".')
    key = next((f for f in singular_forms(food.strip()) if _is_photo_type(table, f)), None)
    label, whole = (key, True) if key else (name.ndb, False)
    n = table.nutrients(label, item.grams, whole_item=whole)
    return ItemRecord(
        item.photo_index,
        label,
        name.display,
        item.grams,
        item.grams_low,
        item.grams_high,
        n.kcal,
        n.protein_g,
        n.fat_g,
        n.carbs_g,
        1.0,
    )


def _is_photo_type(table: NutritionTable, food: str) -> bool:
    if food.isdigit():
        return False
    try:
        table.facts(food)
    except UnknownFoodError:
        return False
    return True


def regrammed(item: ItemRecord, grams: float) -> ItemRecord:
    if not 0 < grams <= 5000:
        raise CorrectionError(f"{grams:.0f} g doesn't look like one item of a meal.")
    f = grams / item.grams if item.grams else 0.0
    return ItemRecord(
        item.photo_index,
        item.name,
        item.display_name,
        grams,
        grams,
        grams,
        item.kcal * f,
        item.protein_g * f,
        item.fat_g * f,
        item.carbs_g * f,
        1.0,
    )


def apply_correction(
    store: MealStore, user_id: int, correction: Correction, table: NutritionTable | None, now: datetime
) -> Fixed | None:
    """Apply `correction` to the user's last meal; None when they have none."""
    meal = store.last_meal(user_id)
    if meal is None:
        return None
    index = pick_item(meal, correction)
    item = meal.items[index]
    if correction.kind == REMOVE:
        after, corrected = None, {"removed": True}
    elif correction.kind == RELABEL:
        if table is None:
            raise CorrectionError("I can't look foods up right now (no nutrition table), so I can't relabel it.")
        after = relabelled(item, correction.food or "", table)
        corrected = {"label": after.name, "display_name": after.display_name, "grams": after.grams}
    else:
        after = regrammed(item, correction.grams or 0.0)
        corrected = {"label": item.name, "display_name": item.display_name, "grams": after.grams}
    result = store.correct_last_meal(user_id, index, after, {"kind": correction.kind, "corrected": corrected}, now)
    if result is None:
        return None
    meal_after, before, totals = result
    return Fixed(before, after, meal_after, totals, index, correction.kind)
