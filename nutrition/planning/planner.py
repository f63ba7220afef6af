"""The weekly meal planner: one mixed-integer program (HiGHS through `scipy.optimize.milp`) picks a recipe and a
serving count for every slot of every day, keeping the rules of `checker.py`; when none fits it re-solves with
one rule relaxed at a time to say which one to give up.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nutrition.allergens import Allergies
from nutrition.planning.candidates import exclusions, pools
from nutrition.planning.checker import (
    DAYS_PER_WEEK,
    SERVINGS_RANGE,
    check_plan,
    day_share,
    planned_slots,
)
from nutrition.planning.milp import Choice, PlanTimeout, Rules, SolverTimeLimit, solve
from nutrition.planning.recipes import SLOTS, PricedRecipe
from nutrition.targets import DailyTargets
from nutrition.usda_table import ZERO, Nutrients


@dataclass(frozen=True)
class Preferences:
    """The one place preferences are read from (personalization fills it later)."""

    cuisines: tuple[str, ...] = ()  # liked: a soft bonus
    dislikes: tuple[str, ...] = ()  # words ("fish", "mushrooms", "cilantro") or allergen names: hard
    max_spice: int | None = None  # hard
    max_minutes: int | None = None  # hard, per recipe


@dataclass(frozen=True)
class PlannedMeal:
    slot: str
    recipe_id: str
    name: str
    servings: float
    nutrients: Nutrients
    cost_usd: float

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "nutrients": dataclasses.asdict(self.nutrients)}

    @classmethod
    def from_dict(cls, d: Mapping) -> PlannedMeal:
        fields = {k: d[k] for k in ("slot", "recipe_id", "name", "servings", "cost_usd")}
        return cls(**fields, nutrients=Nutrients(**d["nutrients"]))


@dataclass(frozen=True)
class PlanRequest:
    targets: DailyTargets
    allergies: Allergies
    days: int = DAYS_PER_WEEK
    slots: tuple[str, ...] = SLOTS  # "plan dinners only" → ("dinner",)
    budget_usd_per_week: float | None = None
    preferences: Preferences = Preferences()
    max_repeats: int = 2  # no dish more than twice a week
    leftovers: bool = False  # a dinner may be eaten again as the next day's lunch (not a repeat)
    skip: frozenset[tuple[int, str]] = frozenset()  # (day index, slot) eaten out / not planned
    keep: Mapping[tuple[int, str], PlannedMeal] = field(default_factory=dict)  # kept as they are (after a swap)
    avoid: frozenset[tuple[int, str, str]] = frozenset()  # (day, slot, recipe id) not allowed (a swap)


@dataclass(frozen=True)
class PlanDay:
    index: int
    meals: tuple[PlannedMeal, ...]
    totals: Nutrients
    cost_usd: float

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "meals": [m.to_dict() for m in self.meals],
            "totals": dataclasses.asdict(self.totals),
            "cost_usd": self.cost_usd,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> PlanDay:
        meals = tuple(PlannedMeal.from_dict(m) for m in d["meals"])
        return cls(d["index"], meals, Nutrients(**d["totals"]), d["cost_usd"])


@dataclass(frozen=True)
class Plan:
    days: tuple[PlanDay, ...]
    cost_usd: float
    request_summary: dict

    def meals(self) -> dict[tuple[int, str], PlannedMeal]:
        """(day, slot) → meal: what a re-plan passes as `keep`, less the meal being swapped."""
        return {(day.index, m.slot): m for day in self.days for m in day.meals}

    def to_dict(self) -> dict:
        return {"days": [d.to_dict() for d in self.days], "cost_usd": self.cost_usd, "summary": self.request_summary}

    @classmethod
    def from_dict(cls, d: Mapping) -> Plan:
        return cls(tuple(PlanDay.from_dict(x) for x in d["days"]), d["cost_usd"], dict(d["summary"]))


class Infeasible(ValueError):
    """No plan keeps every rule; `relax` names the rules that, each given up alone, would let one through."""

    def __init__(self, message: str, relax: tuple[str, ...] = (), cheapest_usd_per_week: float | None = None):
        super().__init__(message)
        self.relax = relax
        self.cheapest_usd_per_week = cheapest_usd_per_week  # set when the budget is what to relax


# What each relaxable rule is called in a sentence for the person.
BUDGET_MARGIN = 0.05  # the budget we say would work is this much above the cheapest plan (see _cheapest_week)
RELAX_WORDS = {
    "budget": "a bigger budget",
    "variety": "allowing a dish more than twice",
    "cooking_time": "a longer cooking time",
    "spice": "spicier dishes",
    "dislikes": "dropping a dislike",
    "protein": "a lower protein target",
    "macros": "looser fat and carb shares",
    "keep": "re-planning the meals kept",
}


def plan_week(
    request: PlanRequest,
    catalogue: Sequence[PricedRecipe],
    *,
    deadline: float | None = None,
    diagnose: bool = True,
) -> Plan:
    """The cheapest plan near the energy target that keeps every hard rule, liked cuisines preferred.

    `deadline` (a `time.monotonic()` value) bounds the whole solve, diagnosis included: a caller that holds a
    lock meanwhile (the bot, in a message's transaction) must not hold it for long. `diagnose=False`: an
    infeasible request raises at once, without finding out which rule to relax (`relax` is then empty).

    Raises:
        Infeasible: no plan fits; says which rule to relax (and for the budget, what budget would work).
        PlanTimeout: the deadline passed first, or the solver ran out of its time limit before finding a plan
            (`SolverTimeLimit`): whether one exists is then not known, and never reported as "no plan fits".
        ValueError: the request itself is malformed (an unknown slot, a kept meal outside the plan).
    """
    _validate(request, catalogue)
    kept = _kept(request, catalogue)
    offered = pools(request, catalogue, kept)
    rules, unknown = Rules(deadline=deadline), None
    try:
        choices = solve(request, offered, kept, rules)
    except SolverTimeLimit as exc:  # the looser model below may still find one
        choices, unknown = None, exc
    choices = choices or solve(request, offered, kept, dataclasses.replace(rules, meal_size=False))
    if choices is None and unknown is not None:
        raise unknown  # ran out of time somewhere: "no plan fits" is not known
    if choices is None:
        if not diagnose:
            raise Infeasible("No plan keeps every rule.", ())
        raise _diagnose(request, catalogue, kept, deadline)
    plan = _assemble(request, {**kept, **choices})
    if problems := check_plan(plan, request, catalogue):  # the solver's answer must pass the independent check
        raise RuntimeError("the planner broke its own rules: " + "; ".join(map(str, problems)))
    return plan


def _validate(request: PlanRequest, catalogue: Sequence[PricedRecipe]) -> None:
    if unknown := set(request.slots) - set(SLOTS):
        raise ValueError(f"unknown slot(s) {sorted(unknown)}: expected some of {', '.join(SLOTS)}")
    if request.days < 1 or request.max_repeats < 1:
        raise ValueError(f"days and max_repeats should be at least 1, got {request.days} and {request.max_repeats}")
    ids = {p.recipe.id for p in catalogue}
    for (day, slot), meal in request.keep.items():
        if slot not in planned_slots(request, day) or not 0 <= day < request.days:
            raise ValueError(f"kept meal at day {day} {slot} is outside the plan's days and slots")
        if meal.recipe_id not in ids:
            raise ValueError(f"kept meal {meal.recipe_id!r} (day {day} {slot}) is not in the catalogue")


def _kept(request: PlanRequest, catalogue: Sequence[PricedRecipe]) -> dict[tuple[int, str], Choice]:
    """Kept meals as choices, their figures recomputed from the catalogue; each must still pass the filters."""
    by_id = {p.recipe.id: p for p in catalogue}
    kept = {}
    for (day, slot), meal in request.keep.items():
        priced = by_id[meal.recipe_id]
        if failed := exclusions(priced, request):
            raise Infeasible(
                f"The kept {priced.recipe.name} (day {day + 1} {slot}) breaks: {', '.join(sorted(failed))}.",
                ("keep",),
            )
        kept[(day, slot)] = Choice(priced, meal.servings)
    return kept


def _assemble(request: PlanRequest, choices: Mapping[tuple[int, str], Choice]) -> Plan:
    days = []
    for day in range(request.days):
        meals = []
        for slot in planned_slots(request, day):
            choice = choices[(day, slot)]
            priced, servings = choice.priced, choice.servings
            nutrients = priced.per_serving.scaled(servings)
            cost = priced.cost_per_serving_usd * servings
            meals.append(PlannedMeal(slot, priced.recipe.id, priced.recipe.name, servings, nutrients, cost))
        totals = sum((m.nutrients for m in meals), ZERO)
        days.append(PlanDay(day, tuple(meals), totals, sum(m.cost_usd for m in meals)))
    return Plan(tuple(days), sum(d.cost_usd for d in days), _summary(request))


def _summary(request: PlanRequest) -> dict:
    """What the plan was made for, JSON-safe: shown with it and stored beside it."""
    prefs = request.preferences
    return {
        "days": request.days,
        "slots": list(request.slots),
        "kcal": request.targets.kcal,
        "protein_g": request.targets.protein_g,
        "budget_usd_per_week": request.budget_usd_per_week,
        "allergies": request.allergies.describe(),
        "dislikes": list(prefs.dislikes),
        "cuisines": list(prefs.cuisines),
        "max_spice": prefs.max_spice,
        "max_minutes": prefs.max_minutes,
        "max_repeats": request.max_repeats,
        "leftovers": request.leftovers,
        "skip": sorted([d, s] for d, s in request.skip),
        "servings_range": list(SERVINGS_RANGE),
        "kcal_share": {str(d): round(day_share(planned_slots(request, d)), 2) for d in range(request.days)},
    }


def _relaxed(request: PlanRequest, rule: str) -> tuple[PlanRequest, Rules]:
    prefs = request.preferences
    change = {
        "budget": lambda: (dataclasses.replace(request, budget_usd_per_week=None), Rules()),
        "variety": lambda: (dataclasses.replace(request, max_repeats=request.days * len(SLOTS)), Rules()),
        "cooking_time": lambda: (_with_prefs(request, max_minutes=None), Rules()),
        "spice": lambda: (_with_prefs(request, max_spice=None), Rules()),
        "dislikes": lambda: (_with_prefs(request, dislikes=()), Rules()),
        "protein": lambda: (request, Rules(protein=False)),
        "macros": lambda: (request, Rules(macros=False)),
        "keep": lambda: (dataclasses.replace(request, keep={}), Rules()),
    }
    active = {
        "budget": request.budget_usd_per_week is not None,
        "cooking_time": prefs.max_minutes is not None,
        "spice": prefs.max_spice is not None,
        "dislikes": bool(prefs.dislikes),
        "keep": bool(request.keep),
    }
    return change[rule]() if active.get(rule, True) else (None, None)


def _with_prefs(request: PlanRequest, **changes) -> PlanRequest:
    return dataclasses.replace(request, preferences=dataclasses.replace(request.preferences, **changes))


def _diagnose(request: PlanRequest, catalogue: Sequence[PricedRecipe], kept, deadline: float | None) -> Infeasible:
    """Re-solve with each rule relaxed alone; the ones that let a plan through are what to relax."""
    relax = []
    for rule in RELAX_WORDS:
        relaxed, rules = _relaxed(request, rule)
        if relaxed is None:
            continue
        kept_now = {} if rule == "keep" else kept
        quick = dataclasses.replace(rules, time_limit_s=2.0, meal_size=False, deadline=deadline)
        try:
            helps = solve(relaxed, pools(relaxed, catalogue, kept_now), kept_now, quick) is not None
        except SolverTimeLimit:  # not shown to help in the time given: not named
            helps = False
        if helps:
            relax.append(rule)
            if rule == "budget":  # the answer names the budget that works, and nothing else: stop looking
                break
    if not all(pools(request, catalogue, kept).values()):
        lead = "Too few recipes are left after the allergies and preferences"
    else:
        lead = "No plan keeps every rule"
    if "budget" in relax:
        cheapest = _cheapest_week(request, catalogue, kept, deadline)
        weekly = f"${request.budget_usd_per_week:.0f} weekly budget"
        return Infeasible(f"No plan fits a {weekly}; ${cheapest:.0f} would work.", tuple(relax), cheapest)
    if relax:
        words = " or ".join(RELAX_WORDS[r] for r in relax)
        return Infeasible(f"{lead}; {words} would let one through.", tuple(relax))
    return Infeasible(f"{lead}, even with one rule relaxed; try fewer allergies or dislikes.", ())


def _cheapest_week(request: PlanRequest, catalogue: Sequence[PricedRecipe], kept, deadline: float | None) -> float:
    """The cheapest plan without the budget, as a weekly budget in whole dollars that works: BUDGET_MARGIN above
    it, because the planner keeps a little inside a budget and, at exactly the cheapest cost, has only that one
    plan to find (which a busy machine may not, within the solver's time limit)."""
    unbounded = dataclasses.replace(request, budget_usd_per_week=None)
    choices = solve(
        unbounded, pools(unbounded, catalogue, kept), kept, Rules(cost_only=True, meal_size=False, deadline=deadline)
    )
    assert choices is not None, "relaxing the budget was feasible a moment ago"
    cost = sum(c.priced.cost_per_serving_usd * c.servings for c in {**kept, **choices}.values())
    return float(math.ceil(cost * (1 + BUDGET_MARGIN) * DAYS_PER_WEEK / request.days + 1e-9))


__all__ = [
    "Infeasible",
    "Plan",
    "PlanDay",
    "PlanRequest",
    "PlanTimeout",
    "PlannedMeal",
    "Preferences",
    "plan_week",
]
