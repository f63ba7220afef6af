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
    ingredients = tuple(Ingredient(ndb, table.facts(ndb).name, grams * scale) for ndb, grams in meal.ingredients)
    total = ZERO
    for ingredient in ingredients:
        total = total + table.nutrients(ingredient.ndb, ingredient.grams, whole_item=False)
    return Option(meal.name, meal.kind, ingredients, total, scale)


def scaled(option: Option, scale: float) -> Option:
    """Nutrients are linear in grams: no table look-up needed to resize a priced option."""
    factor = scale / option.scale
    ingredients = tuple(Ingredient(i.ndb, i.description, i.grams * factor) for i in option.ingredients)
    return Option(option.name, option.kind, ingredients, option.nutrients.scaled(factor), scale)


@dataclass(frozen=True)
class PricedMeal:
    meal: CatalogueMeal
    option: Option  # one listed portion
    found_allergens: frozenset[str]  # what the USDA descriptions name


def price_catalogue(table: NutritionTable, catalogue: tuple[CatalogueMeal, ...] = CATALOGUE) -> list[PricedMeal]:
    """Every catalogue meal priced once: the table look-ups are the slow part, and they never change."""
    out = []
    for meal in catalogue:
        option = priced(meal, table)
        found = frozenset().union(*(allergens_in(i.description) for i in option.ingredients))
        out.append(PricedMeal(meal, option, found))
    return out


def is_safe(entry: PricedMeal, allergies: Allergies) -> bool:
    """No curated allergen, no allergen a USDA description names, no free-text allergy by name."""
    if (entry.meal.allergens | entry.found_allergens) & allergies.top9:
        return False
    texts = (entry.meal.name, *(i.description for i in entry.option.ingredients))
    return not any(mentions(text, item) for item in allergies.other for text in texts)


def next_meal_kcal(remaining_kcal: float) -> float:
    """How big the next meal should be: most of a small remainder, half of a large one, never a feast."""
    if remaining_kcal <= 800:
        return 0.9 * remaining_kcal
    return min(BIGGEST_MEAL_KCAL, max(400.0, remaining_kcal / 2))


def suggest(remaining: Nutrients, allergies: Allergies, catalogue: list[PricedMeal], count: int = 3) -> list[Option]:
    """Up to `count` options fitting `remaining`, closest first in energy and then in macros."""
    if remaining.kcal < NOTHING_LEFT_KCAL:
        return []
    target = next_meal_kcal(remaining.kcal)
    share = target / remaining.kcal
    want = Nutrients(target, *(max(0.0, v) * share for v in remaining.astuple()[1:]))
    scored = []
    for entry in catalogue:
        base = entry.option
        if not is_safe(entry, allergies) or base.nutrients.kcal <= 0:
            continue
        low, high = SNACK_SCALE if base.kind == "snack" else MEAL_SCALE
        scale = min(high, max(low, target / base.nutrients.kcal))
        scale = round(scale * 4) / 4 or low  # quarter portions: "1.5 servings", not "1.37"
        option = scaled(base, scale)
        if option.nutrients.kcal > min(remaining.kcal, 1.2 * target):  # fits the day, and no feast
            continue
        got = option.nutrients
        score = abs(got.kcal - want.kcal) / want.kcal
        score += 0.5 * abs(got.protein_g - want.protein_g) / max(want.protein_g, 10.0)
        score += 0.25 * abs(got.carbs_g - want.carbs_g) / max(want.carbs_g, 20.0)
        score += 0.25 * abs(got.fat_g - want.fat_g) / max(want.fat_g, 10.0)
        scored.append((round(score, 6), base.name, option))
    scored.sort(key=lambda s: (s[0], s[1]))
    return [option for _, _, option in scored[:count]]
