"""A week of meals as a mixed-integer program for HiGHS (`scipy.optimize.milp`).

For every open (day, slot) and candidate recipe: a binary "chosen" and its servings (0, or 0.75–2.0). Per
day: energy within ±5 % of the slots' share of the target, protein at least its share, fat and carbs inside the
AMDR; over the plan: the budget, and at most `max_repeats` of a dish (a dinner eaten again as the next day's
lunch is not a repeat when leftovers are on). Objective: cost + a penalty per kcal off target − a bonus per
liked-cuisine meal + a tiny deterministic tie-break.

Servings must come in whole quarters. With a quarter count per candidate HiGHS takes many seconds on a week,
so the week is solved with servings continuous (a little inside the rules), then again with those recipes
fixed and servings in whole quarters under the exact rules: nothing is rounded afterwards. The variety rule
over all days is slow too, so each recipe is first offered on only `max_repeats` days of its slot, in rotation
(days are alike: little is lost); the whole pool is tried when that finds nothing. Days of a single meal
(dinners only, a swap) are solved in whole quarters at once, which is quick.
"""

from __future__ import annotations

import math
import time
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from nutrition.planning.candidates import Pools, preselected, rotated
from nutrition.planning.checker import (
    ENERGY_TOLERANCE,
    SERVING_STEP,
    SERVINGS_RANGE,
    SLOT_SHARE,
    budget_limit,
    day_share,
    planned_slots,
)
from nutrition.targets import AMDR, KCAL_PER_G

if TYPE_CHECKING:
    from nutrition.planning.planner import PlanRequest
    from nutrition.planning.recipes import PricedRecipe

QUARTERS = tuple(round(s / SERVING_STEP) for s in SERVINGS_RANGE)  # (3, 8)
ENERGY_PENALTY_USD_PER_KCAL = 0.004  # 100 kcal off target weighs like 40 cents
LIKED_BONUS_USD = 0.5
TIE_BREAK_USD = 1e-3
MEAL_SIZE = (0.5, 1.6)  # a meal's energy as a share of its slot's part of the day's target
MIP_GAP = 0.01  # stop within 1 % of the best possible objective
MIN_SOLVE_S = 0.05  # less time than this left before the deadline: give up rather than start a solve
# The continuous pass keeps this much inside the rules (× 1, then × 2, then none) so that whole quarters can
# still be found near its answer: share of the energy target, of the protein target, of energy (fat/carbs),
# of the budget.
SLACKS = (1.0, 2.0, 0.0)
SLACK_ENERGY, SLACK_PROTEIN, SLACK_SHARE, SLACK_BUDGET = 0.01, 0.03, 0.005, 0.01
# Safety margins so that values HiGHS meets within its tolerances still pass the checker exactly.
_MARGIN_KCAL, _MARGIN_G, _MARGIN_USD = 0.5, 0.05, 0.005


@dataclass(frozen=True)
class Choice:
    priced: PricedRecipe
    servings: float


@dataclass(frozen=True)
class Rules:
    """Which day rules the model keeps (diagnosis drops one), what it minimises, how long it may take."""

    protein: bool = True
    macros: bool = True
    meal_size: bool = True  # keep each meal near its slot's share (see _quarters)
    cost_only: bool = False  # the cheapest plan, nothing else (to tell what budget would work)
    time_limit_s: float = 5.0
    deadline: float | None = None  # time.monotonic() by which the whole plan must be done (see PlanTimeout)


class PlanTimeout(RuntimeError):
    """The plan's deadline passed before the solver finished: the machine is busy, or the request is hard."""


class SolverTimeLimit(PlanTimeout):
    """A solve ran out of its own time limit without a plan: whether one exists is not known."""


Kept = Mapping[tuple[int, str], Choice]


def solve(request: PlanRequest, pools: Pools, kept: Kept, rules: Rules) -> dict[tuple[int, str], Choice] | None:
    """(day, slot) → Choice for every open slot, or None when no plan keeps the rules.

    Raises:
        SolverTimeLimit: nothing found, and some pass ran out of its time limit: whether a plan exists is unknown
            (never reported as "no plan fits": a busy machine would make that claim wrongly).
        PlanTimeout: the deadline passed.
    """
    timed_out: list[bool] = []
    found = _search(request, pools, kept, rules, timed_out)
    if found is None and timed_out:
        raise SolverTimeLimit(f"the solver ran out of its {rules.time_limit_s:.0f} s before finding a plan")
    return found


def _search(request: PlanRequest, pools: Pools, kept: Kept, rules: Rules, timed_out: list[bool]):
    if not all(pools.values()):
        return None
    offers = (rotated(request, pools), preselected(request, pools))
    if max(Counter(day for day, _ in pools).values()) == 1:  # one meal a day: whole quarters at once is quick
        return next(
            (c for o in offers if (c := _solve(request, o, kept, rules, True, 0.0, timed_out)) is not None), None
        )
    relaxed_fits = False
    for offered in offers:
        for slack in SLACKS:
            picked = _solve(request, offered, kept, rules, False, slack, timed_out)
            if picked is None:
                continue
            relaxed_fits = True
            fixed = {slot: [choice.priced] for slot, choice in picked.items()}
            if (rounded := _solve(request, fixed, kept, rules, True, 0.0, timed_out)) is not None:
                return rounded
    # Servings in between quarters fit, yet no rounding of them did: the slow exact model, as a last resort.
    return _solve(request, offers[0], kept, rules, True, 0.0, timed_out) if relaxed_fits else None


class _Rows:
    """Sparse constraint rows lb <= a·x <= ub, gathered one at a time."""

    def __init__(self) -> None:
        self.terms: list[Mapping[int, float]] = []
        self.lb: list[float] = []
        self.ub: list[float] = []

    def add(self, terms: Mapping[int, float], lb: float, ub: float) -> None:
        self.terms.append(terms)
        self.lb.append(lb)
        self.ub.append(ub)

    def constraint(self, n: int) -> LinearConstraint:
        indptr = np.cumsum([0, *map(len, self.terms)])
        indices = np.fromiter((c for row in self.terms for c in row), int)
        data = np.fromiter((v for row in self.terms for v in row.values()), float)
        return LinearConstraint(csr_array((data, indices, indptr), shape=(len(self.lb), n)), self.lb, self.ub)


def _solve(request: PlanRequest, pools: Pools, kept: Kept, rules: Rules, whole_quarters: bool, slack: float, timed_out):
    sizes = {(slot, p.recipe.id): _quarters(request, slot[1], p, rules) for slot, pool in pools.items() for p in pool}
    keys = [(slot, p) for slot, pool in pools.items() for p in pool if sizes[(slot, p.recipe.id)]]
    # choice k: chosen at k, its quarter servings at K + k
    k_count = len(keys)
    uses = {(slot, p.recipe.id): k for k, (slot, p) in enumerate(keys)}
    days = sorted({d for d, _ in pools})
    dev = {d: 2 * k_count + i for i, d in enumerate(days)}  # |energy − target| of each day
    left = _leftover_pairs(pools) if request.leftovers else []
    n = 2 * k_count + len(days) + len(left)
    rows = _Rows()
    for slot in pools:  # one recipe a slot
        rows.add({uses[(slot, p.recipe.id)]: 1.0 for p in pools[slot] if (slot, p.recipe.id) in uses}, 1, 1)
    for k, (slot, p) in enumerate(keys):  # fewest·chosen <= quarters <= most·chosen
        fewest, most = sizes[(slot, p.recipe.id)]
        rows.add({k_count + k: 1.0, k: -fewest}, 0, np.inf)
        rows.add({k_count + k: 1.0, k: -most}, -np.inf, 0)
    for day in days:
        ks = [k for k, ((d, _), _) in enumerate(keys) if d == day]
        _day_rows(rows, request, day, {k_count + k: keys[k][1] for k in ks}, kept, (dev[day], rules, slack))
    if (limit := budget_limit(request)) is not None:
        spent = sum(c.priced.cost_per_serving_usd * c.servings for c in kept.values())
        cost = {k_count + k: p.cost_per_serving_usd * SERVING_STEP for k, (_, p) in enumerate(keys)}
        rows.add(cost, -np.inf, limit * (1 - SLACK_BUDGET * slack) - spent - _MARGIN_USD)
    _variety_rows(rows, request, keys, uses, kept, left, 2 * k_count + len(days))
    integrality = np.ones(n)
    integrality[k_count : 2 * k_count] = 1 if whole_quarters else 0
    integrality[2 * k_count : 2 * k_count + len(days)] = 0
    upper = np.concatenate(
        [np.ones(k_count), np.full(k_count, QUARTERS[1]), np.full(len(days), np.inf), np.ones(len(left))]
    )
    time_limit = rules.time_limit_s
    if rules.deadline is not None:
        time_limit = min(time_limit, rules.deadline - time.monotonic())
        if time_limit < MIN_SOLVE_S:
            raise PlanTimeout(f"the plan's deadline passed ({-time_limit:.1f} s ago or too close to start a solve)")
    result = milp(
        _objective(request, keys, n, dev, rules),
        integrality=integrality,
        bounds=Bounds(0, upper),
        constraints=rows.constraint(n),
        options={"time_limit": time_limit, "mip_rel_gap": MIP_GAP},
    )
    if result.x is None:
        if result.status == 1:  # the time limit, before any solution: unknown, not infeasible
            timed_out.append(True)
        return None
    x = result.x
    quarters = x[k_count : 2 * k_count]
    servings = (np.round(quarters) if whole_quarters else quarters) * SERVING_STEP
    return {slot: Choice(p, float(servings[k])) for k, (slot, p) in enumerate(keys) if x[k] > 0.5}


def _quarters(request: PlanRequest, slot: str, priced: PricedRecipe, rules: Rules) -> tuple[int, int] | None:
    """The fewest and most quarter servings of a recipe in a slot, or None when none fit.

    Besides 0.75–2.0 servings, a meal stays within MEAL_SIZE of its slot's share of the energy target, so
    that no plan buys a small lunch with a feast of a breakfast."""
    fewest, most = QUARTERS
    if rules.meal_size:
        per_quarter = priced.per_serving.kcal * SERVING_STEP
        wanted = request.targets.kcal * SLOT_SHARE[slot]
        fewest = max(fewest, math.ceil(MEAL_SIZE[0] * wanted / per_quarter))
        most = min(most, math.floor(MEAL_SIZE[1] * wanted / per_quarter))
    return (fewest, most) if fewest <= most else None


def _day_rows(rows: _Rows, request: PlanRequest, day: int, per_col: Mapping[int, PricedRecipe], kept, how) -> None:
    """Energy, protein, fat and carbs of one day; `per_col` maps each quarter-servings column to its recipe."""
    dev_col, rules, slack = how
    share = day_share(planned_slots(request, day))
    fixed = [c.priced.per_serving.scaled(c.servings) for (d, _), c in kept.items() if d == day]
    kcal0 = sum(n.kcal for n in fixed)
    target = request.targets.kcal * share
    per = {col: p.per_serving.scaled(SERVING_STEP) for col, p in per_col.items()}
    energy = {col: n.kcal for col, n in per.items()}
    tolerance = ENERGY_TOLERANCE - SLACK_ENERGY * slack
    low, high = target * (1 - tolerance), target * (1 + tolerance)
    rows.add(energy, low - kcal0 + _MARGIN_KCAL, high - kcal0 - _MARGIN_KCAL)
    rows.add({**energy, dev_col: -1.0}, -np.inf, target - kcal0)
    rows.add({**energy, dev_col: 1.0}, target - kcal0, np.inf)
    if rules.protein:
        wanted = request.targets.protein_g * share * (1 + SLACK_PROTEIN * slack) - sum(n.protein_g for n in fixed)
        wanted += _MARGIN_G
        rows.add({col: n.protein_g for col, n in per.items()}, wanted, np.inf)
    if rules.macros:
        for macro, attr in (("fat", "fat_g"), ("carbs", "carbs_g")):
            grams0 = sum(getattr(n, attr) for n in fixed)
            share_low, share_high = AMDR[macro]
            inset = SLACK_SHARE * slack
            for bound, sign in ((share_low + inset, 1.0), (share_high - inset, -1.0)):  # sign·(macro − bound) >= 0
                terms = {col: sign * (getattr(n, attr) * KCAL_PER_G[macro] - bound * n.kcal) for col, n in per.items()}
                rows.add(terms, _MARGIN_KCAL - sign * (grams0 * KCAL_PER_G[macro] - bound * kcal0), np.inf)


def _leftover_pairs(pools: Pools) -> list[tuple[tuple, tuple, str]]:
    """(dinner slot, next lunch slot, recipe id) for every recipe that may be both: the leftover links."""
    pairs = []
    for (day, slot), pool in pools.items():
        if slot == "dinner" and (day + 1, "lunch") in pools:
            lunch = {p.recipe.id for p in pools[(day + 1, "lunch")]}
            pairs += [((day, slot), (day + 1, "lunch"), p.recipe.id) for p in pool if p.recipe.id in lunch]
    return pairs


def _variety_rows(rows: _Rows, request: PlanRequest, keys, uses, kept: Kept, left, first_y: int) -> None:
    for j, (dinner, lunch, recipe_id) in enumerate(left):  # leftover <= dinner chosen, leftover <= lunch chosen
        rows.add({first_y + j: 1.0, uses[(dinner, recipe_id)]: -1.0}, -np.inf, 0)
        rows.add({first_y + j: 1.0, uses[(lunch, recipe_id)]: -1.0}, -np.inf, 0)
    for k, ((day, slot), p) in enumerate(keys):  # a dinner-only recipe at lunch: only as last night's leftover
        if slot == "lunch" and "lunch" not in p.recipe.slots:
            dinner = uses.get(((day - 1, "dinner"), p.recipe.id))
            rows.add({k: 1.0, dinner: -1.0} if dinner is not None else {k: 1.0}, -np.inf, 0)
    per_recipe: dict[str, dict[int, float]] = {}
    for (_, recipe_id), k in uses.items():
        per_recipe.setdefault(recipe_id, {})[k] = 1.0
    for j, (_, _, recipe_id) in enumerate(left):
        per_recipe[recipe_id][first_y + j] = -1.0
    already: dict[str, int] = {}
    for choice in kept.values():
        already[choice.priced.recipe.id] = already.get(choice.priced.recipe.id, 0) + 1
    for recipe_id, terms in per_recipe.items():
        allowed = max(request.max_repeats - already.get(recipe_id, 0), 0)
        if sum(v > 0 for v in terms.values()) > allowed:
            rows.add(terms, -np.inf, allowed)


def _objective(request: PlanRequest, keys, n: int, dev: Mapping[int, int], rules: Rules) -> np.ndarray:
    c = np.zeros(n)
    k_count = len(keys)
    liked = set(request.preferences.cuisines)
    for k, ((day, slot), p) in enumerate(keys):
        tie = zlib.crc32(f"{day}/{slot}/{p.recipe.id}".encode()) / 2**32
        bonus = 0 if rules.cost_only else LIKED_BONUS_USD * (p.recipe.cuisine in liked)
        c[k] = TIE_BREAK_USD * tie - bonus
        c[k_count + k] = p.cost_per_serving_usd * SERVING_STEP
    if not rules.cost_only:
        c[list(dev.values())] = ENERGY_PENALTY_USD_PER_KCAL
    return c
