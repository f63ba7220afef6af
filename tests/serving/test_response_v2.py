"""Response schema 2 (Real meals I): unknown items with suggestions and no nutrients, foods named by the ImageNet
head looked up by NDB, what the grams rest on, and the hints. Findings are built by hand; the table is real SR28."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from serving.analyzer import NO_REFERENCE_HINT, PLATE_HINT, UNKNOWN_HINT, MealAnalyzer
from serving.schemas import SCHEMA_VERSION, AnalyzeResponse, ModelVersion
from training.inference.plate import FoodFinding, PlateFindings

VERSIONS = {"detector": ModelVersion(name="d", version="1"), "portion": ModelVersion(name="p", version="1")}


@pytest.fixture
def analyzer(usda_table) -> MealAnalyzer:
    return MealAnalyzer(None, usda_table, VERSIONS)


def respond(analyzer: MealAnalyzer, *foods: FoodFinding, reference: str = "coin", whole: bool = False):
    findings = PlateFindings(list(foods), reference, None, None, whole_photo=whole)
    return analyzer.respond(Image.new("RGB", (640, 480)), findings, {}, time.perf_counter())


APPLE = FoodFinding("apple", 0.9, (10, 10, 100, 100), 180.0, 150.0, 210.0)
PIZZA = FoodFinding(
    "pizza",
    0.7,
    (100, 100, 300, 300),
    107.0,
    53.5,
    214.0,
    display="Pizza",
    ndb="21224",
    recognised_by="imagenet",
    grams_basis="household_portion",
    portion="1 slice",
)
UNKNOWN = FoodFinding(
    "unknown",
    0.4,
    (300, 100, 400, 200),
    None,
    None,
    None,
    recognised_by=None,
    suggestions=(
        {"name": "bread", "display": "White bread", "probability": 0.3, "source": "ecustfd", "ndb": "18069"},
        {"name": "pizza", "display": "Pizza", "probability": 0.2, "source": "imagenet", "ndb": "21224"},
    ),
)


def test_an_unknown_item_has_suggestions_no_nutrients_and_is_left_out_of_the_totals(analyzer):
    result = respond(analyzer, APPLE, UNKNOWN)
    assert result.schema_version == SCHEMA_VERSION == 2
    apple, unknown = result.items
    assert unknown.name == "unknown" and unknown.recognised_by is None
    assert unknown.kcal is None and unknown.grams is None and unknown.grams_basis == "none"
    assert [(s.name, s.source) for s in unknown.suggestions] == [("bread", "ecustfd"), ("pizza", "imagenet")]
    assert unknown.display_name != "White bread"  # never shown as one of the foods it might be
    assert result.totals.kcal == pytest.approx(apple.kcal) and result.totals.unknown_items == 1
    assert result.hint == UNKNOWN_HINT
    AnalyzeResponse.model_validate_json(result.model_dump_json())  # the JSON round-trips the contract


def test_an_imagenet_food_is_priced_by_its_ndb_and_says_its_portion(analyzer, usda_table):
    (pizza,) = respond(analyzer, PIZZA).items
    assert pizza.ndb == "21224" and pizza.recognised_by == "imagenet" and pizza.display_name == "Pizza"
    assert pizza.kcal == pytest.approx(usda_table.nutrients("21224", 107.0).kcal)
    assert pizza.grams_basis == "household_portion" and pizza.portion == "1 slice"


def test_an_ecustfd_food_still_counts_its_edible_part(analyzer, usda_table):
    (apple,) = respond(analyzer, APPLE).items
    assert apple.kcal == pytest.approx(usda_table.nutrients("apple", 180.0).kcal)
    assert apple.kcal < usda_table.nutrients("09003", 180.0).kcal  # the core is not eaten


def test_a_name_the_table_lacks_is_left_out(analyzer):
    odd = FoodFinding("dragonfruit", 0.9, (0, 0, 10, 10), 50.0, 40.0, 60.0, ndb="99999", recognised_by="imagenet")
    assert respond(analyzer, APPLE, odd).items[0].name == "apple"
    assert len(respond(analyzer, APPLE, odd).items) == 1


@pytest.mark.parametrize(("reference", "hint"), [("coin", None), ("plate", PLATE_HINT), ("none", NO_REFERENCE_HINT)])
def test_the_hint_says_what_set_the_scale(analyzer, reference, hint):
    result = respond(analyzer, APPLE, reference=reference)
    assert result.reference.kind == reference and result.hint == hint


def test_findings_round_trip_through_the_model_services_dicts():
    import dataclasses

    findings = PlateFindings([APPLE, UNKNOWN], "plate", (0.0, 0.0, 5.0, 5.0), 0.5, {"detect": 1.0}, True)
    assert PlateFindings.from_dict(dataclasses.asdict(findings)) == findings
