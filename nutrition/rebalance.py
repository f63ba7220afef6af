"""What's left of the day → 2–3 next-meal options from the curated catalogue, safe for the person's allergies.

A meal may be scaled (half to one and a half portions) to fit; it must never pass the remaining energy.
"""

from __future__ import annotations

from dataclasses import dataclass

from nutrition.allergens import Allergies, allergens_in, mentions
from nutrition.meal_catalogue import CATALOGUE, CatalogueMeal
from nutrition.usda_table import ZERO, Nutrients, NutritionTable

MEAL_SCALE = (0.5, 1.5)
SNACK_SCALE = (0.5, 2.0)
BIGGEST_MEAL_KCAL = 750.0
NOTHING_LEFT_KCAL = 100.0


@dataclass(frozen=True)
class Ingredient:
    ndb: str
    description: str
    grams: float


@dataclass(frozen=True)
class Option:
    name: str
    kind: str
    ingredients: tuple[Ingredient, ...]
    nutrients: Nutrients
    scale: float


def priced(meal: CatalogueMeal, table: NutritionTable, scale: float = 1.0) -> Option:
    """The catalogue meal with its USDA nutrients, `scale` times the listed grams."""
    ingredients = tuple(
        Ingredient(ndb, table.facts(ndb).name, grams * scale) for ndb, grams in meal.ingredients
    )
    total = ZERO
    for ingredient in ingredients:
        total = total + table.nutrients(ingredient.ndb, ingredient.grams, whole_item=False)
    return Option(meal.name, meal.kind, ingredients, total, scale)


def is_safe(meal: CatalogueMeal, allergies: Allergies, table: NutritionTable) -> bool:
    """No curated allergen, no allergen a USDA description names, no free-text allergy by name."""
    if meal.allergens & allergies.top9:
        return False
    descriptions = [table.facts(ndb).name for ndb, _ in meal.ingredients]
    if any(allergens_in(d) & allergies.top9 for d in descriptions):
        return False
    return not any(mentions(text, item) for item in allergies.other for text in (meal.name, *descriptions))


def next_meal_kcal(remaining_kcal: float) -> float:
    """How big the next meal should be: most of a small remainder, half of a large one, never a feast."""
    if remaining_kcal <= 800:
        return 0.9 * remaining_kcal
    return min(BIGGEST_MEAL_KCAL, max(400.0, remaining_kcal / 2))


def suggest(
    remaining: Nutrients, allergies: Allergies, table: NutritionTable, count: int = 3,
    catalogue: tuple[CatalogueMeal, ...] = CATALOGUE,
) -> list[Option]:  # fmt: skip
    """Up to `count` options fitting `remaining`, closest first in energy and then in macros."""
    if remaining.kcal < NOTHING_LEFT_KCAL:
        return []
    target = next_meal_kcal(remaining.kcal)
    share = target / remaining.kcal
    want = Nutrients(target, *(max(0.0, v) * share for v in remaining.astuple()[1:]))
    scored = []
    for meal in catalogue:
        if not is_safe(meal, allergies, table):
            continue
        base = priced(meal, table)
        if base.nutrients.kcal <= 0:
            continue
        low, high = SNACK_SCALE if meal.kind == "snack" else MEAL_SCALE
        scale = min(high, max(low, target / base.nutrients.kcal))
        scale = round(scale * 4) / 4 or low  # quarter portions: "1.5 servings", not "1.37"
        option = priced(meal, table, scale)
        if option.nutrients.kcal > remaining.kcal:
            continue
        got = option.nutrients
        score = abs(got.kcal - want.kcal) / want.kcal
        score += 0.5 * abs(got.protein_g - want.protein_g) / max(want.protein_g, 10.0)
        score += 0.25 * abs(got.carbs_g - want.carbs_g) / max(want.carbs_g, 20.0)
        score += 0.25 * abs(got.fat_g - want.fat_g) / max(want.fat_g, 10.0)
        scored.append((round(score, 6), meal.name, option))
    scored.sort(key=lambda s: (s[0], s[1]))
    return [option for _, _, option in scored[:count]]
