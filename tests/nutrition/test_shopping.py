"""Shopping lists from real plans (data/recipes, its price table and the SR28 subset): grams summed over the
week, whole packs, aisles, what the person has left off, and what the meals use of what is bought."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from nutrition.allergens import Allergies
from nutrition.planning.planner import PlanRequest, plan_week
from nutrition.planning.recipes import DEFAULT_RECIPES, load_prices, load_recipes, price_recipes
from nutrition.planning.shopping import AISLE_ORDER, have_phrases, shopping_list
from nutrition.targets import MACRO_SPLIT, DailyTargets, macro_grams

RECIPES = Path(__file__).resolve().parents[2] / DEFAULT_RECIPES


@pytest.fixture(scope="module")
def prices():
    return load_prices(RECIPES / "prices.csv")


@pytest.fixture(scope="module")
def catalogue(usda_table, prices):
    return price_recipes(load_recipes(RECIPES), usda_table, prices)


@pytest.fixture(scope="module")
def plan(catalogue):
    grams = macro_grams(2000, MACRO_SPLIT[None])
    targets = DailyTargets(2000, round(grams["protein"]), round(grams["fat"]), round(grams["carbs"]), None, False, "")
    return plan_week(PlanRequest(targets, Allergies()), catalogue)


def test_the_list_buys_every_gram_the_week_eats_in_whole_packs(plan, catalogue, prices):
    by_id = {p.recipe.id: p.recipe for p in catalogue}
    wanted: dict[str, float] = {}
    for day in plan.days:
        for meal in day.meals:
            recipe = by_id[meal.recipe_id]
            for ingredient in recipe.ingredients:
                wanted[ingredient.item] = (
                    wanted.get(ingredient.item, 0) + ingredient.grams * meal.servings / recipe.servings
                )
    listing = shopping_list(plan, catalogue, prices)
    assert {line.item for line in listing.lines} == set(wanted)
    for line in listing.lines:
        price = prices[line.item]
        assert line.grams == pytest.approx(wanted[line.item])
        assert line.packs == max(1, math.ceil(wanted[line.item] / price.pack_grams - 1e-9))  # enough, not one more
        assert line.cost_usd == pytest.approx(line.packs * price.pack_price_usd)
    # what the meals eat of the packs is what the planner priced them at
    assert listing.used_usd == pytest.approx(plan.cost_usd, rel=0.01)
    assert listing.total_usd >= listing.used_usd


def test_aisles_come_in_shop_order(plan, catalogue, prices):
    aisles = list(shopping_list(plan, catalogue, prices).aisles())
    known = [a for a in aisles if a in AISLE_ORDER]
    assert known == sorted(known, key=AISLE_ORDER.index) and aisles[: len(known)] == known


@pytest.mark.parametrize(
    ("said", "phrases"),
    [
        ("I have rice and 2 onions", ["rice", "onions"]),
        ("i've already got some rice, eggs & the milk", ["rice", "eggs", "milk"]),
        ("have olive oil plus salt", ["olive oil", "salt"]),
        ("I have", []),
    ],
)
def test_what_people_say_they_have(said, phrases):
    assert have_phrases(said) == phrases


def test_what_the_person_has_comes_off_the_list_and_nothing_else(plan, catalogue, prices):
    full = shopping_list(plan, catalogue, prices)
    items = {line.item for line in full.lines}
    rice = [i for i in items if "rice" in i.split()]
    assert rice, "the default week has rice in it"
    fewer = shopping_list(plan, catalogue, prices, have=["i have rice", "unobtainium"])
    gone = {line.item for line in fewer.have}
    assert gone and gone <= set(rice) and not any("vinegar" in i or "noodle" in i for i in gone)
    assert {line.item for line in fewer.lines} == items - gone
    assert fewer.unmatched == ("unobtainium",)
    assert fewer.total_usd == pytest.approx(full.total_usd - sum(line.cost_usd for line in fewer.have))


def test_a_plan_with_an_unpriced_or_unknown_item_is_refused(plan, catalogue, prices):
    item = next(iter(shopping_list(plan, catalogue, prices).lines)).item
    with pytest.raises(ValueError, match="no price"):
        shopping_list(plan, catalogue, {k: v for k, v in prices.items() if k != item})
    stray = dataclasses.replace(plan.days[0].meals[0], recipe_id="no-such-recipe")
    days = (dataclasses.replace(plan.days[0], meals=(stray,)), *plan.days[1:])
    with pytest.raises(ValueError, match="not in the catalogue"):
        shopping_list(dataclasses.replace(plan, days=days), catalogue, prices)
