"""The weekly planner on the real catalogue (data/recipes priced with the real SR28 subset) and on small
synthetic ones: every plan passes the independent checker, allergens never appear (every top-9 allergen and
free-text ones), budgets, variety, slots, days, skips, swaps, leftovers, storage and determinism."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from nutrition.allergens import TOP9, Allergies, allergens_in, mentions
from nutrition.planning.candidates import exclusions, pools
from nutrition.planning.checker import SLOT_SHARE, check_plan, recipe_texts
from nutrition.planning.milp import Rules, SolverTimeLimit, solve
from nutrition.planning.planner import Infeasible, Plan, PlanRequest, PlanTimeout, Preferences, plan_week
from nutrition.planning.recipes import (
    DEFAULT_RECIPES,
    PricedRecipe,
    Recipe,
    RecipeIngredient,
    load_prices,
    load_recipes,
    price_recipes,
)
from nutrition.targets import AMDR, MACRO_SPLIT, DailyTargets, macro_grams
from nutrition.usda_table import Nutrients

RECIPES = Path(__file__).resolve().parents[2] / DEFAULT_RECIPES


def targets(kcal: float) -> DailyTargets:
    grams = macro_grams(kcal, MACRO_SPLIT[None])
    return DailyTargets(kcal, round(grams["protein"]), round(grams["fat"]), round(grams["carbs"]), None, False, "")


def request(kcal: float = 2000, allergies: Allergies = Allergies(), **changes) -> PlanRequest:
    return PlanRequest(targets(kcal), allergies, **changes)


@pytest.fixture(scope="module")
def catalogue(usda_table):
    return price_recipes(load_recipes(RECIPES), usda_table, load_prices(RECIPES / "prices.csv"))


@pytest.fixture(scope="module")
def week(catalogue):
    return plan_week(request(), catalogue)


def by_id(catalogue) -> dict[str, PricedRecipe]:
    return {p.recipe.id: p for p in catalogue}


def assert_day_rules(plan: Plan, req: PlanRequest, catalogue) -> None:
    """The day rules recomputed here from per-serving USDA nutrients, beside the checker's verdict."""
    assert check_plan(plan, req, catalogue) == []
    recipes = by_id(catalogue)
    for day in (d for d in plan.days if d.meals):  # a day skipped whole has nothing to check
        meals = [(recipes[m.recipe_id], m.servings) for m in day.meals]
        kcal = sum(p.per_serving.kcal * s for p, s in meals)
        share = sum(SLOT_SHARE[m.slot] for m in day.meals)
        assert abs(kcal - req.targets.kcal * share) <= 0.05 * req.targets.kcal * share + 1e-6, day.index
        assert sum(p.per_serving.protein_g * s for p, s in meals) >= req.targets.protein_g * share - 1e-6
        fat, carbs = (sum(getattr(p.per_serving, a) * s for p, s in meals) for a in ("fat_g", "carbs_g"))
        assert AMDR["fat"][0] - 1e-9 <= fat * 9 / kcal <= AMDR["fat"][1] + 1e-9
        assert AMDR["carbs"][0] - 1e-9 <= carbs * 4 / kcal <= AMDR["carbs"][1] + 1e-9
        assert all(0.75 <= s <= 2.0 and (s * 4).is_integer() for _, s in meals)


def test_a_default_week_fills_every_slot_and_keeps_every_rule(week, catalogue):
    assert [d.index for d in week.days] == list(range(7))
    assert all([m.slot for m in d.meals] == ["breakfast", "lunch", "dinner", "snack"] for d in week.days)
    assert_day_rules(week, request(), catalogue)
    assert max(Counter(m.recipe_id for d in week.days for m in d.meals).values()) <= 2


@pytest.mark.parametrize("kcal", [1400, 2600, 3200])
def test_targets_from_small_to_large_are_met_every_day(catalogue, kcal):
    assert_day_rules(plan_week(request(kcal), catalogue), request(kcal), catalogue)


@pytest.mark.parametrize("allergen", TOP9)
def test_no_plan_ever_contains_an_allergen(catalogue, allergen):
    allergies = Allergies(frozenset({allergen}))
    for p in catalogue:  # the filter, recipe by recipe, against declared and USDA-named allergens
        holds = allergen in p.recipe.allergens or any(allergen in allergens_in(d) for d in p.descriptions)
        assert ("allergy" in exclusions(p, request(allergies=allergies))) == holds, p.recipe.id
    assert any(allergen in p.allergens for p in catalogue)  # else this test could not fail
    req = request(allergies=allergies)
    plan = plan_week(req, catalogue)
    assert check_plan(plan, req, catalogue) == []
    recipes = by_id(catalogue)
    for meal in (m for d in plan.days for m in d.meals):
        priced = recipes[meal.recipe_id]
        assert allergen not in priced.recipe.allergens | priced.allergens
        assert not any(allergen in allergens_in(d) for d in priced.descriptions)


@pytest.mark.parametrize("other", [("mushrooms",), ("coconut", "avocado"), ("strawberries",)])
def test_free_text_allergies_never_appear_by_name_or_usda_description(catalogue, other):
    assert any(mentions(t, o) for p in catalogue for t in recipe_texts(p) for o in other)
    req = request(allergies=Allergies(other=other))
    plan = plan_week(req, catalogue)
    assert check_plan(plan, req, catalogue) == []
    recipes = by_id(catalogue)
    for meal in (m for d in plan.days for m in d.meals):
        assert not any(mentions(t, o) for t in recipe_texts(recipes[meal.recipe_id]) for o in other), meal.name


def test_dislikes_exclude_a_group_by_its_name_and_a_word_by_itself(catalogue):
    fish = request(preferences=Preferences(dislikes=("fish",)))
    salmon = request(preferences=Preferences(dislikes=("salmon",)))
    tuna_like = [
        p for p in catalogue if "fish" in p.allergens and not any(mentions(t, "salmon") for t in recipe_texts(p))
    ]
    assert tuna_like and all("dislikes" in exclusions(p, fish) for p in catalogue if "fish" in p.allergens)
    assert not any("dislikes" in exclusions(p, salmon) for p in tuna_like)  # "salmon" is not all fish
    plan = plan_week(fish, catalogue)
    assert check_plan(plan, fish, catalogue) == []
    assert not any("fish" in by_id(catalogue)[m.recipe_id].allergens for d in plan.days for m in d.meals)


def test_cooking_time_and_spice_limits_hold_and_liked_cuisines_get_more_meals(catalogue, week):
    req = request(preferences=Preferences(max_minutes=20, max_spice=0, cuisines=("indian",)))
    plan = plan_week(req, catalogue)
    recipes = [by_id(catalogue)[m.recipe_id].recipe for d in plan.days for m in d.meals]
    assert check_plan(plan, req, catalogue) == []
    assert all(r.minutes <= 20 and r.spice == 0 for r in recipes)
    liked = plan_week(request(preferences=Preferences(cuisines=("italian",))), catalogue)
    count = lambda p: sum(by_id(catalogue)[m.recipe_id].recipe.cuisine == "italian" for d in p.days for m in d.meals)  # noqa: E731
    assert count(liked) > count(week)


def test_a_budget_is_kept_and_an_impossible_one_says_what_would_work(catalogue, week):
    budget = round(week.cost_usd * 0.99, 2)  # binding; nearer the cheapest week the solver needs many seconds
    req = request(budget_usd_per_week=budget)
    assert plan_week(req, catalogue).cost_usd <= budget
    with pytest.raises(Infeasible) as caught:
        plan_week(request(budget_usd_per_week=10), catalogue)
    error = caught.value
    assert "budget" in error.relax and error.cheapest_usd_per_week > 10
    assert "$10 weekly budget" in str(error) and f"${error.cheapest_usd_per_week:.0f} would work" in str(error)
    enough = request(budget_usd_per_week=error.cheapest_usd_per_week)
    assert plan_week(enough, catalogue).cost_usd <= error.cheapest_usd_per_week


def test_dinners_only_three_days_and_a_budget_pro_rata(catalogue):
    dinners = request(slots=("dinner",))
    plan = plan_week(dinners, catalogue)
    assert all([m.slot for m in d.meals] == ["dinner"] for d in plan.days)
    assert_day_rules(plan, dinners, catalogue)
    short = request(days=3, budget_usd_per_week=40)
    plan = plan_week(short, catalogue)
    assert len(plan.days) == 3 and plan.cost_usd <= 40 * 3 / 7
    assert_day_rules(plan, short, catalogue)


def test_skipped_meals_are_left_out_and_the_day_aims_at_what_is_left(catalogue):
    req = request(skip=frozenset({(4, "dinner")} | {(5, s) for s in ("breakfast", "lunch", "dinner", "snack")}))
    plan = plan_week(req, catalogue)
    assert [m.slot for m in plan.days[4].meals] == ["breakfast", "lunch", "snack"] and plan.days[5].meals == ()
    assert_day_rules(plan, req, catalogue)


def test_a_swap_changes_only_that_meal(catalogue, week):
    old = week.meals()
    keep = {k: m for k, m in old.items() if k != (1, "dinner")}
    req = request(keep=keep, avoid=frozenset({(1, "dinner", old[(1, "dinner")].recipe_id)}))
    swapped = plan_week(req, catalogue)
    new = swapped.meals()
    assert new[(1, "dinner")].recipe_id != old[(1, "dinner")].recipe_id
    assert {k: m for k, m in new.items() if k != (1, "dinner")} == keep
    assert check_plan(swapped, req, catalogue) == []


def test_a_plan_survives_json_storage_and_planning_is_deterministic(catalogue, week):
    assert Plan.from_dict(json.loads(json.dumps(week.to_dict()))) == week
    assert plan_week(request(), catalogue) == week


def test_a_malformed_request_is_refused(catalogue, week):
    with pytest.raises(ValueError, match="unknown slot"):
        plan_week(request(slots=("brunch",)), catalogue)
    with pytest.raises(ValueError, match="outside the plan"):
        plan_week(request(days=3, keep={(5, "dinner"): week.days[0].meals[2]}), catalogue)


# Small synthetic catalogues: recipes whose nutrients per serving we choose.


def recipe(rid: str, slots: tuple[str, ...], kcal: float, cost: float = 2.0, **fields) -> PricedRecipe:
    """A balanced recipe (20 % protein, 30 % fat, 50 % carbs) of `kcal` a serving."""
    allergens = frozenset(fields.pop("allergens", ()))
    made = Recipe(
        id=rid,
        name=fields.pop("name", rid.replace("-", " ")),
        slots=slots,
        servings=2,
        minutes=fields.pop("minutes", 20),
        cuisine=fields.pop("cuisine", "american"),
        spice=fields.pop("spice", 0),
        tags=frozenset(),
        allergens=allergens,
        ingredients=(RecipeIngredient("20045", 300, "white rice"),),
    )
    per_serving = Nutrients(kcal, kcal * 0.2 / 4, kcal * 0.3 / 9, kcal * 0.5 / 4)
    return PricedRecipe(made, per_serving, cost, allergens, fields.pop("descriptions", ("Rice, white, cooked",)))


def week_of(breakfasts: int = 4, lunches: int = 4, dinners: int = 4, snacks: int = 4) -> list[PricedRecipe]:
    """Recipes whose one serving is just their slot's share of 2,000 kcal, cheaper by index."""
    out = []
    for slot, n in (("breakfast", breakfasts), ("lunch", lunches), ("dinner", dinners), ("snack", snacks)):
        out += [recipe(f"{slot}-{i}", (slot,), 2000 * SLOT_SHARE[slot], 1.0 + i) for i in range(n)]
    return out


def test_too_few_breakfasts_for_the_variety_rule_names_variety():
    with pytest.raises(Infeasible) as caught:
        plan_week(request(), week_of(breakfasts=3))
    assert caught.value.relax == ("variety",)
    assert plan_week(request(max_repeats=3), week_of(breakfasts=3))


def test_a_cooking_time_that_leaves_no_dinner_names_cooking_time():
    slow = [dataclasses.replace(p, recipe=dataclasses.replace(p.recipe, minutes=90)) for p in week_of()[8:12]]
    with pytest.raises(Infeasible) as caught:
        plan_week(request(preferences=Preferences(max_minutes=30)), week_of()[:8] + slow + week_of()[12:])
    assert caught.value.relax == ("cooking_time",)


def test_leftovers_let_last_nights_dinner_be_lunch_without_counting_as_a_repeat():
    catalogue = [recipe("lunch-0", ("lunch",), 650), *(recipe(f"dinner-{i}", ("dinner",), 650) for i in range(7))]
    # 1,950 kcal: two 650 kcal meals clear the protein share (its target is just under their 65 g)
    req = request(1950, slots=("lunch", "dinner"), max_repeats=1, leftovers=True)
    plan = plan_week(req, catalogue)
    assert check_plan(plan, req, catalogue) == []
    meals = plan.meals()
    assert all(meals[(d, "lunch")].recipe_id == meals[(d - 1, "dinner")].recipe_id for d in range(1, 7))
    assert any(v.rule == "variety" for v in check_plan(plan, dataclasses.replace(req, leftovers=False), catalogue))
    with pytest.raises(Infeasible):
        plan_week(dataclasses.replace(req, leftovers=False), catalogue)


# The checker, on plans corrupted after the solve: it must catch each broken rule by recomputing.


@pytest.fixture(scope="module")
def synthetic():
    catalogue = [*week_of(), recipe("peanut-stew", ("dinner",), 700, 0.5, allergens={"peanut"})]
    return catalogue, plan_week(request(), catalogue)


def replaced(plan: Plan, day: int, slot: str, **changes) -> Plan:
    """The plan with one meal changed; the stored day and plan totals are left as they were."""
    days = list(plan.days)
    meals = tuple(dataclasses.replace(m, **changes) if m.slot == slot else m for m in days[day].meals)
    days[day] = dataclasses.replace(days[day], meals=meals)
    return dataclasses.replace(plan, days=tuple(days))


def rules_broken(plan: Plan, req: PlanRequest, catalogue) -> set[str]:
    return {v.rule for v in check_plan(plan, req, catalogue)}


def test_the_checker_passes_the_solved_plan_and_catches_every_corruption(synthetic):
    catalogue, plan = synthetic
    req = request()
    assert rules_broken(plan, req, catalogue) == set()
    # servings doubled but the stored nutrients still claim the old ones: energy is recomputed, not read
    dinner = plan.days[0].meals[2]
    assert {"energy", "totals"} <= rules_broken(replaced(plan, 0, "dinner", servings=2.0), req, catalogue)
    assert "servings" in rules_broken(replaced(plan, 0, "dinner", servings=dinner.servings + 0.1), req, catalogue)
    assert "allergy" in rules_broken(
        replaced(plan, 0, "dinner", recipe_id="peanut-stew"),
        request(allergies=Allergies(frozenset({"peanut"}))),
        catalogue,
    )
    assert "unknown_recipe" in rules_broken(replaced(plan, 0, "dinner", recipe_id="no-such-dish"), req, catalogue)
    assert "slots" in rules_broken(replaced(plan, 0, "dinner", recipe_id="breakfast-0"), req, catalogue)
    assert "budget" in rules_broken(plan, request(budget_usd_per_week=plan.cost_usd - 1), catalogue)
    assert "dislikes" in rules_broken(plan, request(preferences=Preferences(dislikes=("rice",))), catalogue)
    assert "avoid" in rules_broken(plan, request(avoid=frozenset({(0, "dinner", dinner.recipe_id)})), catalogue)
    kept = dataclasses.replace(dinner, recipe_id="dinner-3" if dinner.recipe_id != "dinner-3" else "dinner-2")
    assert "keep" in rules_broken(plan, request(keep={(0, "dinner"): kept}), catalogue)
    same = {d.index: dataclasses.replace(d.meals[0], recipe_id="breakfast-0") for d in plan.days[:3]}
    thrice = plan
    for day, meal in same.items():
        thrice = replaced(thrice, day, "breakfast", recipe_id=meal.recipe_id)
    assert "variety" in rules_broken(thrice, req, catalogue)
    assert "slots" in rules_broken(plan, request(skip=frozenset({(2, "snack")})), catalogue)
    assert "days" in rules_broken(plan, request(days=6), catalogue)


def test_the_checker_finds_macros_outside_the_amdr():
    catalogue = week_of()
    plan = plan_week(request(), catalogue)
    fatty = [  # the same recipes said to be 60 % fat: the stored totals no longer hold either
        dataclasses.replace(
            p, per_serving=Nutrients(p.per_serving.kcal, p.per_serving.protein_g, p.per_serving.kcal * 0.6 / 9, 1.0)
        )
        for p in catalogue
    ]
    assert {"fat", "carbs", "totals"} <= rules_broken(plan, request(), fatty)


def test_a_deadline_bounds_the_solve_and_diagnosis_can_be_skipped(catalogue):
    with pytest.raises(PlanTimeout):
        plan_week(request(), catalogue, deadline=time.monotonic())
    started = time.monotonic()
    with pytest.raises(Infeasible) as caught:
        plan_week(request(budget_usd_per_week=5), catalogue, diagnose=False)
    assert caught.value.relax == () and time.monotonic() - started < 30
    with pytest.raises(Infeasible) as caught:  # with the diagnosis: the budget named, and what would work
        plan_week(request(budget_usd_per_week=5), catalogue, deadline=time.monotonic() + 120)
    assert caught.value.relax == ("budget",) and caught.value.cheapest_usd_per_week > 5


def test_a_solve_out_of_time_is_never_called_infeasible(catalogue):
    req = request()
    with pytest.raises(SolverTimeLimit):  # unknown, not "no plan fits"
        solve(req, pools(req, catalogue, {}), {}, Rules(time_limit_s=1e-6))
