import pytest

from nutrition import Nutrients, NutritionTable, UnknownFoodError, UnknownUnitError
from nutrition.units import UnitError, parse_amount, parse_quantity, to_grams
from training.data.usda_sr28 import build_tables, resolve_ecustfd_foods


@pytest.fixture(scope="module")
def table(tmp_path_factory, write_sr28):
    root = tmp_path_factory.mktemp("nutrition")
    foods, portions = build_tables(write_sr28(root / "sr28"))
    mapping = root / "foods.yaml"
    mapping.write_text(
        'foods:\n  apple: {ndb: "09003", display: Apple, whole: true}\n  egg: {ndb: "01123", display: Egg, whole: true}\n'
    )
    return NutritionTable(foods, portions, resolve_ecustfd_foods(foods, mapping, ("apple", "egg")))


def test_per_100g(table):
    assert table.facts("apple").per_100g.kcal == 52
    assert table.facts("09003").name == "Apples, raw, with skin"


def test_whole_items_count_only_the_edible_part(table):
    assert table.nutrients("apple", 200).kcal == pytest.approx(52 * 2 * 0.9)
    assert table.nutrients("apple", 200, whole_item=False).kcal == pytest.approx(104)
    assert table.nutrients("09003", 100).kcal == pytest.approx(52)


def test_portions(table):
    assert table.grams_for("09003", 1, "medium") == pytest.approx(182)
    assert table.grams_for("20045", 1, "cup") == pytest.approx(158)
    assert table.grams_for("20045", 0.5, "cups") == pytest.approx(79)
    assert table.grams_for("egg", 2, "piece") == pytest.approx(100)
    assert table.grams_for("apple", 150, "g") == 150
    assert table.grams_for("20045", 1, "tbsp") == pytest.approx(158 / 16, rel=0.01)


def test_errors_name_the_value(table):
    with pytest.raises(UnknownFoodError, match="'pizza'"):
        table.facts("pizza")
    with pytest.raises(UnknownUnitError, match="'slice'"):
        table.grams_for("20045", 1, "slice")
    with pytest.raises(UnitError, match="'bucket'"):
        table.grams_for("20045", 1, "bucket")
    with pytest.raises(ValueError, match="-5"):
        table.nutrients("apple", -5)


def test_search_ranks_shared_words(table):
    assert table.search("cooked rice")[0][0] == "20045"
    assert table.search("apples")[0][0] == "09003"
    assert table.search("!!!") == []


def test_nutrients_add_up():
    total = Nutrients(1, 2, 3, 4) + Nutrients(1, 1, 1, 1)
    assert total == Nutrients(2, 3, 4, 5)


@pytest.mark.parametrize(
    ("text", "value"), [("2", 2), ("1/2", 0.5), ("1 1/2", 1.5), ("half", 0.5), ("a", 1), ("0.25", 0.25)]
)
def test_amounts(text, value):
    assert parse_amount(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("150g", (150, "g")), ("2 cups", (2, "cup")), ("8 oz", (8, "oz")), ("3", (3, None)), ("1,5 kg", (1.5, "kg"))],
)
def test_quantities(text, expected):
    assert parse_quantity(text) == expected


def test_conversions():
    assert to_grams(1, "lb") == pytest.approx(453.6, abs=0.1)
    assert to_grams(250, "ml") == 250
    with pytest.raises(UnitError, match="count"):
        to_grams(1, "slice")
    with pytest.raises(UnitError, match="not positive"):
        parse_amount("0")


def test_real_tables(tmp_path, repo_root):
    directory = repo_root / "data" / "nutrition"
    if not (directory / "foods.parquet").is_file():
        pytest.skip("data/nutrition not built (run `dvc repro nutrition_table`)")
    real = NutritionTable.load(directory)
    assert real.facts("apple").per_100g.kcal == pytest.approx(52, abs=1)
    assert real.grams_for("20045", 1, "cup") == pytest.approx(158, abs=2)
    assert real.grams_for("09003", 1, "medium") == pytest.approx(182, abs=2)
