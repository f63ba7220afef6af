"""Which recipes the planner's model may put in each open (day, slot): the hard filters first (allergies,
dislikes, spice, cooking time), then the variety rotation and the pre-selection that keep the model small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from nutrition.allergens import mentions
from nutrition.planning.checker import disliked_allergens, planned_slots, recipe_texts

if TYPE_CHECKING:
    from nutrition.planning.planner import PlanRequest
    from nutrition.planning.recipes import PricedRecipe

MAX_CANDIDATES = 40  # per slot when every recipe is offered every day

Pools = Mapping[tuple[int, str], list["PricedRecipe"]]


def exclusions(priced: PricedRecipe, request: PlanRequest) -> frozenset[str]:
    """The hard filters a recipe fails for `request` (empty: allowed): allergy, dislikes, spice, cooking_time."""
    prefs, allergies, texts = request.preferences, request.allergies, recipe_texts(priced)
    failed = set()
    if priced.allergens & allergies.top9 or any(mentions(t, a) for a in allergies.other for t in texts):
        failed.add("allergy")
    if any(disliked_allergens(w) & priced.allergens or any(mentions(t, w) for t in texts) for w in prefs.dislikes):
        failed.add("dislikes")
    if prefs.max_spice is not None and priced.recipe.spice > prefs.max_spice:
        failed.add("spice")
    if prefs.max_minutes is not None and priced.recipe.minutes > prefs.max_minutes:
        failed.add("cooking_time")
    return frozenset(failed)


def open_slots(request: PlanRequest, kept: Mapping) -> list[tuple[int, str]]:
    return [(d, s) for d in range(request.days) for s in planned_slots(request, d) if (d, s) not in kept]


def pools(request: PlanRequest, catalogue: Sequence[PricedRecipe], kept: Mapping) -> dict[tuple[int, str], list]:
    """(day, slot) → every recipe allowed there: passes the filters, is for that slot, was not swapped out.

    With leftovers on, a lunch may also be any dinner recipe (the model allows it only as last night's)."""
    allowed = sorted((p for p in catalogue if not exclusions(p, request)), key=lambda p: p.recipe.id)
    by_slot = {s: [p for p in allowed if s in p.recipe.slots] for s in request.slots}
    opened = open_slots(request, kept)
    out = {}
    for day, slot in opened:
        pool = by_slot[slot]
        if request.leftovers and slot == "lunch" and (day - 1, "dinner") in opened:
            ids = {p.recipe.id for p in pool}
            pool = pool + [p for p in by_slot["dinner"] if p.recipe.id not in ids]
        out[(day, slot)] = [p for p in pool if (day, slot, p.recipe.id) not in request.avoid]
    return out


def _cheapness(p: PricedRecipe) -> tuple[float, str]:
    return (p.cost_per_serving_usd / p.per_serving.kcal, p.recipe.id)


def rotated(request: PlanRequest, pools: Pools) -> dict[tuple[int, str], list]:
    """Each recipe offered on only `max_repeats` days of each slot, spread over the week in rotation.

    The variety rule then mostly holds by itself, and the days of the model barely interact, which is what
    makes HiGHS fast. A recipe's lunches fall the day after its dinners, so a leftover can still be chosen.
    """
    days, repeats = request.days, request.max_repeats
    stride = max(1, days // repeats)
    offered: set[tuple[str, int, str]] = set()
    for slot in request.slots:
        ranked = sorted(
            {p.recipe.id: p for (_, s), pool in pools.items() if s == slot for p in pool}.values(), key=_cheapness
        )
        shift = 1 if slot == "lunch" else 0
        for i, p in enumerate(ranked):
            offered.update((slot, (i + shift + j * stride) % days, p.recipe.id) for j in range(min(repeats, days)))
    out = {}
    for (day, slot), pool in pools.items():
        own = [p for p in pool if (slot, day, p.recipe.id) in offered]
        if slot == "lunch" and request.leftovers:
            ids = {p.recipe.id for p in own}
            own += [p for p in pool if ("dinner", day - 1, p.recipe.id) in offered and p.recipe.id not in ids]
        out[(day, slot)] = own
    return out


def preselected(request: PlanRequest, pools: Pools) -> dict[tuple[int, str], list]:
    """At most MAX_CANDIDATES a slot: the cheapest per kcal and the richest in protein per kcal, alternately."""
    liked = set(request.preferences.cuisines)

    def cheap(p: PricedRecipe) -> tuple:
        return (p.cost_per_serving_usd / p.per_serving.kcal * (0.7 if p.recipe.cuisine in liked else 1), p.recipe.id)

    def protein(p: PricedRecipe) -> tuple:
        return (-p.per_serving.protein_g / p.per_serving.kcal, p.recipe.id)

    out = {}
    for key, pool in pools.items():
        chosen: dict[str, PricedRecipe] = {}
        for pair in zip(sorted(pool, key=cheap), sorted(pool, key=protein)):
            for p in pair:
                if len(chosen) < MAX_CANDIDATES:
                    chosen.setdefault(p.recipe.id, p)
        out[key] = sorted(chosen.values(), key=lambda p: p.recipe.id)
    return out
