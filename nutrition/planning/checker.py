"""The rules a meal plan must keep, and an independent checker of them.

The checker recomputes every figure from the catalogue (USDA per-serving nutrients × servings, the price per
serving) and never reads the totals the planner stored, so a planner bug cannot pass its own report. The
planner imports the rule definitions from here: one book of rules, two readers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nutrition.allergens import LABELS, TOP9, allergens_in, mentions, parse_allergies
from nutrition.targets import AMDR, KCAL_PER_G
from nutrition.usda_table import ZERO, Nutrients

if TYPE_CHECKING:
    from nutrition.planning.planner import Plan, PlannedMeal, PlanRequest
    from nutrition.planning.recipes import PricedRecipe

# The share of the day's target each slot carries; a day with fewer slots aims at the sum of theirs.
SLOT_SHARE = {"breakfast": 0.25, "lunch": 0.30, "dinner": 0.35, "snack": 0.10}
ENERGY_TOLERANCE = 0.05  # the day's energy within ±5 % of its share of the target
SERVINGS_RANGE = (0.75, 2.0)
SERVING_STEP = 0.25  # servings come in quarters: what a person can measure
DAYS_PER_WEEK = 7
# Dislikes that name a whole allergen group ("no fish", "dairy") exclude the group as the allergy table knows
# it; any other word ("salmon", "mushrooms") excludes only recipes that name it.
GROUP_WORDS = frozenset(TOP9) | frozenset(LABELS.values()) | {"dairy", "eggs", "shellfish", "nuts", "gluten", "soya"}
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Violation:
    rule: str  # energy, protein, fat, carbs, budget, variety, allergy, dislikes, spice, cooking_time, ...
    day: int | None
    slot: str | None
    detail: str

    def __str__(self) -> str:
        where = " ".join(str(p) for p in (f"day {self.day}" if self.day is not None else None, self.slot) if p)
        return f"{self.rule}{f' ({where})' if where else ''}: {self.detail}"


def planned_slots(request: PlanRequest, day: int) -> tuple[str, ...]:
    """The slots of `day` the plan fills (kept ones included), in the request's order."""
    return tuple(s for s in request.slots if (day, s) not in request.skip)


def day_share(slots: Iterable[str]) -> float:
    return sum(SLOT_SHARE[s] for s in slots)


def budget_limit(request: PlanRequest) -> float | None:
    """The most the planned days may cost: the weekly budget, pro rata for a plan shorter than a week."""
    if request.budget_usd_per_week is None:
        return None
    return request.budget_usd_per_week * request.days / DAYS_PER_WEEK


def disliked_allergens(word: str) -> frozenset[str]:
    """The allergen groups a dislike names ("fish", "dairy"); empty for a plain word ("salmon")."""
    if " ".join(word.lower().split()) not in GROUP_WORDS:
        return frozenset()
    return parse_allergies(word).top9


def recipe_texts(priced: PricedRecipe) -> tuple[str, ...]:
    """Everything a free-text allergy or dislike is matched against: name, USDA descriptions, tags, items."""
    recipe = priced.recipe
    return (recipe.name, *priced.descriptions, *sorted(recipe.tags), *(i.item for i in recipe.ingredients))


def is_leftover(request: PlanRequest, meals: dict[tuple[int, str], PlannedMeal], day: int, slot: str) -> bool:
    """A lunch that is the previous day's dinner, eaten again: allowed (and not a repeat) with leftovers on."""
    if not request.leftovers or slot != "lunch" or (day - 1, "dinner") not in meals:
        return False
    return meals[(day - 1, "dinner")].recipe_id == meals[(day, slot)].recipe_id


def check_plan(plan: Plan, request: PlanRequest, catalogue: Sequence[PricedRecipe]) -> list[Violation]:
    """Every hard rule the plan breaks for `request`, recomputed from `catalogue`; [] when it keeps them all."""
    by_id = {p.recipe.id: p for p in catalogue}
    meals, out = _meals_by_slot(plan, request)
    for (day, slot), meal in sorted(meals.items()):
        if meal.recipe_id not in by_id:
            out.append(Violation("unknown_recipe", day, slot, f"{meal.recipe_id!r} is not in the catalogue"))
            continue
        out += _check_meal(meal, by_id[meal.recipe_id], request, is_leftover(request, meals, day, slot), day)
    known = {k: m for k, m in meals.items() if m.recipe_id in by_id}
    out += _check_keep(known, request)
    out += _check_days(plan, known, request, by_id)
    out += _check_week(plan, known, request, by_id)
    return out


def _meals_by_slot(plan: Plan, request: PlanRequest) -> tuple[dict[tuple[int, str], PlannedMeal], list[Violation]]:
    out, meals = [], {}
    indices = [d.index for d in plan.days]
    if indices != list(range(request.days)):
        out.append(Violation("days", None, None, f"days {indices}, expected 0–{request.days - 1} in order"))
    for day in plan.days:
        slots = [m.slot for m in day.meals]
        if sorted(slots) != sorted(planned_slots(request, day.index)):
            out.append(Violation("slots", day.index, None, f"{slots}, expected {planned_slots(request, day.index)}"))
        meals.update({(day.index, m.slot): m for m in day.meals})
    return meals, out


def _check_meal(meal: PlannedMeal, priced: PricedRecipe, request: PlanRequest, leftover: bool, day: int):
    recipe, slot = priced.recipe, meal.slot
    low, high = SERVINGS_RANGE
    on_step = math.isclose(meal.servings / SERVING_STEP, round(meal.servings / SERVING_STEP), abs_tol=1e-9)
    expected = priced.per_serving.scaled(meal.servings)
    cost = priced.cost_per_serving_usd * meal.servings
    truthful = _close(meal.nutrients, expected) and math.isclose(meal.cost_usd, cost, rel_tol=1e-6, abs_tol=1e-6)
    problems = [
        *_check_safety(priced, request),
        ("slots", slot not in recipe.slots and not leftover, f"{recipe.id} is not a {slot} recipe"),
        ("avoid", (day, slot, recipe.id) in request.avoid, f"{recipe.id} was swapped out here"),
        ("servings", not (low <= meal.servings <= high and on_step), f"{meal.servings} servings"),
        ("totals", not truthful, f"stored {meal.nutrients}, ${meal.cost_usd:.2f}; recomputed {expected}, ${cost:.2f}"),
    ]
    return [Violation(rule, day, slot, detail) for rule, broken, detail in problems if broken]


def _check_safety(priced: PricedRecipe, request: PlanRequest) -> list[tuple[str, bool, str]]:
    """Allergies, dislikes, spice and cooking time, the allergens read again from the USDA descriptions."""
    recipe, prefs, texts = priced.recipe, request.preferences, recipe_texts(priced)
    contains = recipe.allergens | frozenset().union(*map(allergens_in, priced.descriptions))
    found = contains & request.allergies.top9
    named = [a for a in request.allergies.other if any(mentions(t, a) for t in texts)]
    disliked = [w for w in prefs.dislikes if disliked_allergens(w) & contains or any(mentions(t, w) for t in texts)]
    too_hot = prefs.max_spice is not None and recipe.spice > prefs.max_spice
    too_long = prefs.max_minutes is not None and recipe.minutes > prefs.max_minutes
    return [
        ("allergy", bool(found), f"{recipe.id} contains {sorted(found)}"),
        ("allergy", bool(named), f"{recipe.id} names {named}"),
        ("dislikes", bool(disliked), f"{recipe.id} has {disliked}"),
        ("spice", too_hot, f"{recipe.id}: spice {recipe.spice} > {prefs.max_spice}"),
        ("cooking_time", too_long, f"{recipe.id}: {recipe.minutes} min > {prefs.max_minutes}"),
    ]


def _check_keep(meals: dict[tuple[int, str], PlannedMeal], request: PlanRequest) -> list[Violation]:
    out = []
    for (day, slot), kept in request.keep.items():
        meal = meals.get((day, slot))
        if meal is None or (meal.recipe_id, meal.servings) != (kept.recipe_id, kept.servings):
            got = f"{meal.recipe_id} × {meal.servings}" if meal else "nothing"
            out.append(Violation("keep", day, slot, f"kept {kept.recipe_id} × {kept.servings}, plan has {got}"))
    return out


def _check_days(plan: Plan, meals, request: PlanRequest, by_id) -> list[Violation]:
    out = []
    for day in plan.days:
        slots = planned_slots(request, day.index)
        if not slots:
            continue
        total = ZERO
        for slot in slots:
            if (day.index, slot) in meals:
                meal = meals[(day.index, slot)]
                total = total + by_id[meal.recipe_id].per_serving.scaled(meal.servings)
        share = day_share(slots)
        target = request.targets.kcal * share
        low, high = target * (1 - ENERGY_TOLERANCE), target * (1 + ENERGY_TOLERANCE)
        problems = [
            (
                "energy",
                not low - _TOLERANCE <= total.kcal <= high + _TOLERANCE,
                f"{total.kcal:.0f} kcal, wanted {low:.0f}–{high:.0f}",
            ),
            (
                "protein",
                total.protein_g < request.targets.protein_g * share - _TOLERANCE,
                f"{total.protein_g:.1f} g < {request.targets.protein_g * share:.1f} g",
            ),
            *_amdr("fat", total.fat_g, total.kcal),
            *_amdr("carbs", total.carbs_g, total.kcal),
            ("totals", not _close(day.totals, total), f"stored {day.totals}, recomputed {total}"),
        ]
        out += [Violation(rule, day.index, None, detail) for rule, broken, detail in problems if broken]
    return out


def _amdr(macro: str, grams: float, kcal: float) -> list[tuple[str, bool, str]]:
    low, high = AMDR[macro]
    energy = grams * KCAL_PER_G[macro]
    broken = not low * kcal - _TOLERANCE <= energy <= high * kcal + _TOLERANCE
    return [(macro, broken, f"{energy / kcal if kcal else 0:.1%} of energy, wanted {low:.0%}–{high:.0%}")]


def _check_week(plan: Plan, meals, request: PlanRequest, by_id) -> list[Violation]:
    out = []
    cost = sum(by_id[m.recipe_id].cost_per_serving_usd * m.servings for m in meals.values())
    limit = budget_limit(request)
    if limit is not None and cost > limit + _TOLERANCE:
        out.append(Violation("budget", None, None, f"${cost:.2f} > ${limit:.2f} for {request.days} days"))
    if not math.isclose(plan.cost_usd, cost, rel_tol=1e-6, abs_tol=1e-6):
        out.append(Violation("totals", None, None, f"stored ${plan.cost_usd:.2f}, recomputed ${cost:.2f}"))
    counts = Counter(m.recipe_id for (d, s), m in meals.items() if not is_leftover(request, meals, d, s))
    for recipe_id, count in sorted(counts.items()):
        if count > request.max_repeats:
            out.append(Violation("variety", None, None, f"{recipe_id} {count} times > {request.max_repeats}"))
    return out


def _close(a: Nutrients, b: Nutrients) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6) for x, y in zip(a.astuple(), b.astuple()))
