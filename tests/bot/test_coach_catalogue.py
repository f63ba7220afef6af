"""Rebalancing: options fit what's left of the day and never contain the person's allergens — checked
exhaustively over every catalogue meal, every allergen, and a grid of remaining budgets."""

from itertools import combinations

import pytest

from nutrition.allergens import TOP9, Allergies, allergens_in
from nutrition.meal_catalogue import CATALOGUE
from nutrition.rebalance import is_safe, price_catalogue, suggest
from nutrition.usda_table import Nutrients

BUDGETS = [
    Nutrients(k, p, f, c) for k in (150, 300, 500, 800, 1200, 1800, 2500) for p, f, c in ((20, 20, 60), (90, 60, 200))
]


@pytest.fixture(scope="module")
def priced(usda_table):
    return price_catalogue(usda_table)


def test_curated_allergens_cover_what_usda_descriptions_name(priced):
    for entry in priced:
        assert entry.found_allergens <= entry.meal.allergens, (entry.meal.name, entry.found_allergens)
        assert entry.meal.allergens <= set(TOP9)


@pytest.mark.parametrize("allergen", TOP9)
def test_no_option_ever_contains_an_allergen(priced, allergen):
    allergies = Allergies(frozenset({allergen}))
    containing = {e.meal.name for e in priced if allergen in e.meal.allergens}
    for entry in priced:  # every meal, directly
        assert is_safe(entry, allergies) == (entry.meal.name not in containing)
    for budget in BUDGETS:  # and through suggest, whatever the budget
        for option in suggest(budget, allergies, priced, count=len(CATALOGUE)):
            assert option.name not in containing
            assert not any(allergen in allergens_in(i.description) for i in option.ingredients)


def test_every_pair_of_allergens_still_gets_safe_options(priced):
    for pair in combinations(TOP9, 2):
        options = suggest(Nutrients(1200, 60, 40, 150), Allergies(frozenset(pair)), priced)
        assert len(options) >= 2, pair
        assert all(not (set(pair) & e.meal.allergens) for e in priced if e.meal.name in {o.name for o in options})


def test_free_text_allergies_match_by_name(priced):
    options = suggest(Nutrients(200, 5, 5, 40), Allergies(other=("pear", "strawberries", "orange")), priced, count=30)
    assert not {o.name for o in options} & {"Pear", "Strawberries", "Orange"}


@pytest.mark.parametrize("budget", BUDGETS)
def test_options_fit_the_remaining_budget(priced, budget):
    options = suggest(budget, Allergies(), priced)
    if budget.kcal < 100:
        assert options == []
        return
    assert 2 <= len(options) <= 3
    for option in options:
        assert 0 < option.nutrients.kcal <= budget.kcal
        assert option.nutrients.kcal <= 900  # a meal, not the rest of the day at once


def test_nothing_left_means_no_more_food(priced):
    assert suggest(Nutrients(40, 0, 0, 0), Allergies(), priced) == []
    assert suggest(Nutrients(-300, 0, 0, 0), Allergies(), priced) == []


def test_catalogue_nutrients_come_from_the_table(priced):
    chicken = next(e.option for e in priced if e.meal.name.startswith("Grilled chicken"))
    # 150 g chicken 165/100 g + 180 g rice 130 + 100 g broccoli 34 + 5 g oil 884
    assert chicken.nutrients.kcal == pytest.approx(1.5 * 165 + 1.8 * 130 + 34 + 0.05 * 884)


def test_catalogue_against_the_real_table(repo_root):
    directory = repo_root / "data" / "nutrition"
    if not (directory / "foods.parquet").is_file():
        pytest.skip("data/nutrition not built (run `dvc repro nutrition_table`)")
    from nutrition import NutritionTable

    for entry in price_catalogue(NutritionTable.load(directory)):
        assert entry.found_allergens <= entry.meal.allergens, entry.meal.name
