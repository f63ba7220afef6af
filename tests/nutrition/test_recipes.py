"""The meal planner's recipe catalogue: the real data/recipes against a real SR28 subset, and what a broken
catalogue is told (file, recipe id, what is wrong), through the functions and the validate_recipes stage CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nutrition.allergens import TOP9, allergens_in
from nutrition.planning.recipes import (
    DEFAULT_RECIPES,
    SLOTS,
    CatalogueError,
    load_prices,
    load_recipes,
    price_recipes,
    validate,
)
from pipelines.validate_recipes import app

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / DEFAULT_RECIPES
PRICES = RECIPES / "prices.csv"

# Allergens an item holds that its USDA description does not name (buns are wheat, pesto holds pine nuts and
# cheese, hummus tahini, mayonnaise egg); the descriptions' own are checked through allergens_in.
HIDDEN = {
    "hamburger buns": {"wheat"},
    "bagels": {"wheat"},
    "english muffins": {"wheat"},
    "pesto": {"milk", "tree_nuts"},
    "hummus": {"sesame"},
    "tahini": {"sesame"},
    "mayonnaise": {"egg"},
    "soy sauce": {"soy", "wheat"},
    "teriyaki sauce": {"soy", "wheat"},
    "gochujang": {"soy", "wheat"},
    "semolina": {"wheat"},
    "tofu": {"soy"},
    "soft tofu": {"soy"},
    "dark chocolate": {"milk", "soy"},
}

PRICE_HEADER = "# test prices, 2026-12-02\nitem,aisle,pack_grams,pack_label,pack_price_usd\n"


@pytest.fixture(scope="module")
def catalogue():
    return load_recipes(RECIPES)


@pytest.fixture(scope="module")
def prices():
    return load_prices(PRICES)


def recipe(**overrides) -> dict:
    """A valid recipe as YAML would hold it: chicken and rice, two servings."""
    base = {
        "id": "chicken-rice",
        "name": "Chicken and rice",
        "slots": ["lunch", "dinner"],
        "servings": 2,
        "minutes": 30,
        "cuisine": "american",
        "spice": 0,
        "tags": ["high-protein"],
        "allergens": [],
        "ingredients": [
            {"ndb": "05064", "grams": 300, "item": "chicken breast"},
            {"ndb": "20045", "grams": 360, "item": "white rice"},
        ],
    }
    return {**base, **overrides}


def write_catalogue(directory: Path, *recipes: dict, name: str = "test.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(yaml.safe_dump(list(recipes), sort_keys=False))
    (directory / "prices.csv").write_text(
        PRICE_HEADER
        + "chicken breast,Meat & seafood,680,2 lb pack,7.99\n"
        + "white rice,Pasta & grains,2700,1 kg bag,2.29\n"
        + "cheddar cheese,Dairy & eggs,227,8 oz block,2.99\n"
    )
    return directory


def problems_of(tmp_path: Path, usda_table, *recipes: dict) -> list[str]:
    directory = write_catalogue(tmp_path / "recipes", *recipes)
    return validate(load_recipes(directory), usda_table, load_prices(directory / "prices.csv"))


def test_the_catalogue_validates_against_the_usda_subset(catalogue, prices, usda_table):
    problems = validate(catalogue, usda_table, prices)
    # An NDB that SR28 has but the subset lacks: append its row, taken from data/nutrition, to tests/usda_subset.json.
    assert problems == [], "\n".join(problems)


def test_the_catalogue_is_big_and_varied_enough_to_plan_weeks(catalogue):
    assert len(catalogue) >= 120
    per_slot = Counter(s for r in catalogue for s in r.slots)
    assert all(per_slot[s] >= 14 for s in SLOTS), per_slot  # a week of each slot at most twice per dish
    assert len({r.cuisine for r in catalogue}) >= 8
    tags = Counter(t for r in catalogue for t in r.tags)
    assert all(tags[t] >= 10 for t in ("vegetarian", "vegan", "quick", "high-protein", "gluten-free", "dairy-free"))


def test_every_declared_allergen_set_covers_what_the_ingredients_hold(catalogue, usda_table):
    for r in catalogue:
        found = set().union(*(allergens_in(usda_table.facts(i.ndb).name) for i in r.ingredients))
        hidden = set().union(*(HIDDEN.get(i.item, set()) for i in r.ingredients))
        assert found | hidden <= r.allergens, f"{r.id}: declares {sorted(r.allergens)}, holds {sorted(found | hidden)}"
        assert r.allergens <= set(TOP9)


def test_priced_servings_are_plausible_and_budgets_can_be_tight(catalogue, prices, usda_table):
    priced = {p.recipe.id: p for p in price_recipes(catalogue, usda_table, prices)}
    for p in priced.values():
        assert 50 <= p.per_serving.kcal <= 1200 and p.cost_per_serving_usd > 0, p.recipe.id
        assert p.allergens == p.recipe.allergens  # validated: the descriptions add nothing undeclared
    cheapest = {s: min(p.cost_per_serving_usd for p in priced.values() if s in p.recipe.slots) for s in SLOTS}
    assert sum(cheapest.values()) < 4.0, cheapest  # a day of the cheapest dishes stays under $4


def test_a_serving_is_computed_pro_rata_from_usda_and_prices(tmp_path, usda_table):
    directory = write_catalogue(tmp_path / "recipes", recipe(allergens=["milk"]))
    [priced] = price_recipes(load_recipes(directory), usda_table, load_prices(directory / "prices.csv"))
    chicken, rice = usda_table.facts("05064").per_100g, usda_table.facts("20045").per_100g
    assert priced.per_serving.kcal == pytest.approx((chicken.kcal * 3 + rice.kcal * 3.6) / 2)
    assert priced.per_serving.protein_g == pytest.approx((chicken.protein_g * 3 + rice.protein_g * 3.6) / 2)
    assert priced.cost_per_serving_usd == pytest.approx((300 / 680 * 7.99 + 360 / 2700 * 2.29) / 2)
    assert priced.descriptions == (usda_table.facts("05064").name, usda_table.facts("20045").name)
    assert priced.allergens == {"milk"}


def test_an_unknown_ndb_is_named_with_the_recipe(tmp_path, usda_table):
    bad = recipe(ingredients=[{"ndb": "99999", "grams": 100, "item": "white rice"}])
    assert problems_of(tmp_path, usda_table, bad) == [
        "recipe 'chicken-rice' (american): white rice: unknown NDB '99999' (not in SR28)"
    ]


def test_an_unknown_price_item_is_named(tmp_path, usda_table):
    bad = recipe(ingredients=[{"ndb": "20045", "grams": 100, "item": "unobtainium rice"}])
    [problem] = problems_of(tmp_path, usda_table, bad)
    assert "'chicken-rice'" in problem and "unknown price item 'unobtainium rice'" in problem


def test_an_undeclared_allergen_is_a_mismatch(tmp_path, usda_table):
    cheesy = recipe(ingredients=[*recipe()["ingredients"], {"ndb": "01009", "grams": 40, "item": "cheddar cheese"}])
    [problem] = problems_of(tmp_path, usda_table, cheesy)
    assert "allergen mismatch: 'milk' not declared" in problem and "Cheese, cheddar" in problem
    assert problems_of(tmp_path, usda_table, {**cheesy, "allergens": ["milk"]}) == []


def test_an_implausible_serving_is_flagged(tmp_path, usda_table):
    huge = recipe(servings=1, ingredients=[{"ndb": "20045", "grams": 3600, "item": "white rice"}])
    [problem] = problems_of(tmp_path, usda_table, huge)
    assert "kcal a serving is outside" in problem


@pytest.mark.parametrize(
    ("ingredient", "message"),
    [
        ({"ndb": "20045", "item": "white rice"}, "ingredient 1 (white rice): grams missing"),
        ({"ndb": "20045", "grams": 0, "item": "white rice"}, "white rice: grams should be above 0, got 0"),
        ({"ndb": "20045", "grams": "lots", "item": "white rice"}, "grams should be a number, got 'lots'"),
        ({"ndb": 20045, "grams": 100, "item": "white rice"}, "ndb should be a quoted 5-digit SR28 number"),
        ({"ndb": "20045", "grams": 100}, "ingredient 1: item missing"),
        ({"ndb": "20045", "grams": 100, "item": "rice", "gram": 5}, "unknown field 'gram'"),
    ],
)
def test_a_malformed_ingredient_is_refused_with_file_and_recipe(tmp_path, ingredient, message):
    directory = write_catalogue(tmp_path / "recipes", recipe(ingredients=[ingredient]))
    with pytest.raises(CatalogueError) as caught:
        load_recipes(directory)
    [problem] = caught.value.problems
    assert problem.startswith(f"{directory / 'test.yaml'}: recipe 'chicken-rice'") and message in problem


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"slots": ["brunch"]}, "slots should be some of breakfast, lunch, dinner, snack"),
        ({"cuisine": "martian"}, "unknown cuisine 'martian'"),
        ({"allergens": ["gluten"]}, "unknown allergen(s) ['gluten']"),
        ({"spice": 7}, "spice should be 0-3, got 7"),
        ({"servings": 0}, "servings and minutes should be at least 1"),
        ({"servings": 1.5}, "servings should be a whole number"),
        ({"ingredients": []}, "ingredients missing"),
        ({"id": "Chicken Rice"}, "id should be a lowercase slug"),
        ({"allergen": ["milk"]}, "unknown field 'allergen'"),
    ],
)
def test_a_malformed_recipe_is_refused(tmp_path, fields, message):
    directory = write_catalogue(tmp_path / "recipes", recipe(**fields))
    with pytest.raises(CatalogueError, match=r"test\.yaml") as caught:
        load_recipes(directory)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_every_problem_of_every_file_is_listed_at_once(tmp_path):
    directory = write_catalogue(tmp_path / "recipes", recipe(), recipe(id="two", minutes=None), name="a.yaml")
    write_catalogue(directory, recipe(), name="b.yaml")
    with pytest.raises(CatalogueError) as caught:
        load_recipes(directory)
    assert caught.value.problems == (
        f"{directory / 'a.yaml'}: recipe 'two': minutes should be a whole number, got None",
        f"{directory / 'b.yaml'}: recipe 'chicken-rice': duplicate id (first in {directory / 'a.yaml'})",
    )
    assert "2 problem(s)" in str(caught.value)


def test_prices_skip_comments_and_refuse_bad_rows(tmp_path):
    good = tmp_path / "prices.csv"
    good.write_text(PRICE_HEADER + "# a note\neggs,Dairy & eggs,600,1 dozen,3.99\n")
    assert load_prices(good)["eggs"].pack_grams == 600
    bad = tmp_path / "bad.csv"
    bad.write_text(
        PRICE_HEADER + "eggs,Dairy & eggs,600,1 dozen,3.99\neggs,Dairy & eggs,600,1 dozen,3.49\nrice,x,0,bag,1\n"
    )
    with pytest.raises(CatalogueError) as caught:
        load_prices(bad)
    assert [p.split(": ", 1)[0] for p in caught.value.problems] == [f"{bad}:4", f"{bad}:5"]
    assert "duplicate item 'eggs'" in caught.value.problems[0]
    (tmp_path / "nohead.csv").write_text("eggs,Dairy & eggs,600,1 dozen,3.99\n")
    with pytest.raises(CatalogueError, match="item,aisle,pack_grams,pack_label,pack_price_usd"):
        load_prices(tmp_path / "nohead.csv")


def test_the_real_price_table_states_its_source_and_date_and_prices_every_item(catalogue, prices):
    comments = [line for line in PRICES.read_text().splitlines() if line.startswith("#")]
    assert any("source" in c.lower() or "compiled" in c.lower() for c in comments)
    assert any("2026-" in c for c in comments)
    assert {i.item for r in catalogue for i in r.ingredients} <= set(prices)


def stage(directory: Path, nutrition: Path, reports: Path):
    args = ["--recipes", str(directory), "--prices", str(directory / "prices.csv")]
    return CliRunner().invoke(app, [*args, "--nutrition", str(nutrition), "--reports", str(reports)])


def test_the_stage_writes_the_catalogue_report(tmp_path, usda_tables_dir, monkeypatch):
    monkeypatch.chdir(REPO)  # params.yaml
    directory = write_catalogue(tmp_path / "recipes", recipe(), recipe(id="rice", slots=["snack"], servings=4))
    result = stage(directory, usda_tables_dir, tmp_path / "reports")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "reports" / "catalogue.json").read_text())
    assert report["recipes"] == 2 and report["per_slot"] == {"dinner": 1, "lunch": 1, "snack": 1}
    assert report["per_recipe"]["rice"]["kcal"] == pytest.approx(report["per_recipe"]["chicken-rice"]["kcal"] / 2, 0.01)


def test_the_stage_fails_on_a_broken_catalogue_listing_every_problem(tmp_path, usda_tables_dir, monkeypatch):
    monkeypatch.chdir(REPO)
    unknown = recipe(id="mystery", ingredients=[{"ndb": "99999", "grams": 100, "item": "white rice"}])
    cheesy = recipe(ingredients=[*recipe()["ingredients"], {"ndb": "01009", "grams": 40, "item": "cheddar cheese"}])
    directory = write_catalogue(tmp_path / "recipes", unknown, cheesy)
    result = stage(directory, usda_tables_dir, tmp_path / "reports")
    assert result.exit_code != 0
    assert isinstance(result.exception, CatalogueError)
    assert "unknown NDB '99999'" in str(result.exception) and "allergen mismatch: 'milk'" in str(result.exception)
    assert not (tmp_path / "reports").exists()
