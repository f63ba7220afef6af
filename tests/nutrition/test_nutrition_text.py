"""Reading people's words: meals, allergies, profile facts and corrections (real USDA rows, no data/ needed)."""

import pytest

from nutrition.allergens import TOP9, allergens_in, parse_allergies
from nutrition.corrections import parse_correction
from nutrition.food_names import FOODS
from nutrition.meal_text import looks_like_meal, read_meal, split_parts
from nutrition.profile_text import parse_body, parse_goal
from nutrition.targets import Activity, Goal, Sex


@pytest.fixture(scope="module")
def table(usda_table):
    return usda_table


def _logged(table, text):
    meal = read_meal(text, table)
    assert not meal.questions, meal.questions
    return [
        (f.name, round(f.grams), None if f.ml is None else round(f.ml), round(f.nutrients.kcal)) for f in meal.foods
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 eggs and a slice of toast", [("Egg", 88, None, 126), ("Toast", 22, None, 64)]),  # SR28 medium egg 44 g
        ("150g chicken breast", [("Chicken breast", 150, None, 248)]),
        ("a cup of rice", [("White rice", 158, None, 205)]),
        ("half an avocado", [("Avocado", 100, None, 161)]),
        ("I had 2 large eggs", [("Egg", 100, None, 143)]),
        ("chicken breast 200g", [("Chicken breast", 200, None, 330)]),
        ("8 oz chiken breast", [("Chicken breast", 227, None, 374)]),  # typo
        ("1 medium pear, 1 tbsp olive oil", [("Pear", 178, None, 101), ("Olive oil", 14, None, 119)]),
        ("a glass of milk", [("Milk", 258, 250, 157)]),  # drinks in mL, weighed through SR28's cup
        ("a coffee", [("Coffee", 237, 237, 2)]),
        ("1 lb pasta", [("Pasta", 454, None, 717)]),
    ],
)
def test_meals_typed_as_text(table, text, expected):
    assert _logged(table, text) == expected


def test_unknown_or_ambiguous_foods_are_asked_back_never_guessed(table):
    (question,) = read_meal("a slice of pizza", table).questions
    assert question.kind == "which" and len(question.choices) == 3
    assert all("Pizza" in description for _, description in question.choices)
    (unknown,) = read_meal("2 zorblax", table).questions
    assert unknown.kind == "unknown"
    (how_much,) = read_meal("quinoa", table).questions
    assert how_much.kind == "how_much" and how_much.ndb == "20137"


def test_parts_and_meal_detection():
    assert [(p.amount, p.unit, p.food) for p in split_parts("For lunch: 2 cups of rice + 3 oz salmon")] == [
        (2, "cup", "rice"),
        (3, "oz", "salmon"),
    ]
    assert looks_like_meal("2 eggs and toast") and looks_like_meal("banana")
    assert not looks_like_meal("hello there") and not looks_like_meal("what should I eat?")


@pytest.mark.parametrize(
    ("text", "top9", "other", "none"),
    [
        ("no nuts or shellfish", {"tree_nuts", "peanut", "crustacean_shellfish"}, (), False),
        ("None", set(), (), True),
        ("no", set(), (), True),
        ("Dairy, eggs and kiwi", {"milk", "egg"}, ("kiwi",), False),
        ("gluten intolerant", {"wheat"}, (), False),
        ("sesame & soy", {"sesame", "soy"}, (), False),
        ("shrimp and salmon", {"crustacean_shellfish", "fish"}, (), False),
    ],
)
def test_allergies_from_free_text(text, top9, other, none):
    found = parse_allergies(text)
    assert (set(found.top9), found.other, found.none) == (top9, other, none)
    assert found.top9 <= set(TOP9)


@pytest.mark.parametrize(
    ("description", "allergens"),
    [
        ("Peanut butter, smooth style, with salt", {"peanut"}),
        ("Nuts, almonds", {"tree_nuts"}),
        ("Butter, salted", {"milk"}),
        ("Eggplant, raw", set()),
        ("Bread, whole-wheat", {"wheat"}),
        ("Seeds, sesame butter, tahini", {"sesame"}),
        ("Crustaceans, shrimp, raw", {"crustacean_shellfish"}),
    ],
)
def test_allergens_named_in_usda_descriptions(description, allergens):
    assert allergens_in(description) == allergens


def test_profile_facts_from_free_text():
    assert parse_body("I'm 34, 172 cm, 80 kg").found() == {"age_years": 34, "height_cm": 172, "weight_kg": 80}
    us = parse_body("female, 5'6\", 140 lbs, desk job").found()
    assert us == {"sex": Sex.FEMALE, "height_cm": 167.6, "weight_kg": 63.5, "activity": Activity.SEDENTARY}
    assert parse_body("I go to the gym 3 times a week").activity is Activity.MODERATE
    assert [parse_goal(t) for t in ("lose weight", "Loose wieght", "eat healthier", "save money", "4", "hello")] == [
        Goal.LOSE_WEIGHT,
        Goal.LOSE_WEIGHT,
        Goal.EAT_BETTER,
        Goal.SAVE_MONEY,
        Goal.MAINTAIN,
        None,
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("that was a pear", ("relabel", None, "pear", None)),
        ("No, it was a pear.", ("relabel", None, "pear", None)),
        ("not an apple, a pear", ("relabel", "apple", "pear", None)),
        ("the banana was actually a mango", ("relabel", "banana", "mango", None)),
        ("It was 150 g", ("grams", None, None, 150.0)),
        ("the rice was 200g", ("grams", "rice", None, 200.0)),
        ("remove the bread", ("remove", None, "bread", None)),
        ("I didn't eat the toast", ("remove", None, "toast", None)),
    ],
)
def test_corrections(text, expected):
    c = parse_correction(text)
    assert (c.kind, c.target, c.food, c.grams) == expected


@pytest.mark.parametrize("text", ["that was delicious", "2 eggs and toast", "hello", "today"])
def test_not_corrections(text):
    assert parse_correction(text) is None


def test_every_everyday_name_points_at_a_real_sr28_food(repo_root, usda_table):
    from nutrition import NutritionTable

    directory = repo_root / "data" / "nutrition"
    table = NutritionTable.load(directory) if (directory / "foods.parquet").is_file() else usda_table
    for name, food in FOODS.items():
        assert table.facts(food.ndb).ndb == food.ndb, name
