"""Response schema 2 (Real meals I): unknown items with suggestions and no nutrients, foods named by the ImageNet
head looked up by NDB, what the grams rest on, and the hints. Findings are built by hand; the table is real SR28."""

from __future__ import annotations

import dataclasses
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


# --- a cloud namer asked about unknown foods (Bedrock through botocore's Stubber) -----------------------------------


@pytest.fixture
def bedrock_analyzer(usda_table, repo_root):
    import boto3
    from botocore.stub import Stubber

    from serving.namers import BedrockVisionNamer, FoodVocabulary, NamerSettings

    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    namer = BedrockVisionNamer(client, NamerSettings(), FoodVocabulary.from_foods_yaml(repo_root / "data/foods.yaml"))
    with Stubber(client) as stubber:
        yield MealAnalyzer(None, usda_table, VERSIONS, namer=namer, namer_accept=0.6), stubber
        stubber.assert_no_pending_responses()


def _answer(text: str) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1600, "outputTokens": 30, "totalTokens": 1630},
        "metrics": {"latencyMs": 500},
    }


SIZED_UNKNOWN = FoodFinding(
    "unknown", 0.4, (300, 100, 400, 200), 120.0, 60.0, 240.0, recognised_by=None, grams_basis="size_prior"
)


def test_a_sure_cloud_answer_names_a_sized_unknown_food_and_its_cost_is_reported(bedrock_analyzer, usda_table):
    analyzer, stubber = bedrock_analyzer
    stubber.add_response("converse", _answer('{"foods": [{"name": "broccoli", "probability": 0.9}]}'))
    result = respond(analyzer, SIZED_UNKNOWN)
    (item,) = result.items
    assert (item.name, item.recognised_by, item.ndb) == ("broccoli", "bedrock", "11090")
    assert item.kcal == pytest.approx(usda_table.nutrients("11090", 120.0).kcal)
    assert result.totals.unknown_items == 0
    (usage,) = result.usage
    assert usage["input_tokens"] == 1600 and usage["cost_usd"] > 0
    assert respond(analyzer, APPLE).usage == []  # nothing unknown, no call (the stubber has no second answer)


def test_an_unsure_cloud_answer_or_one_without_grams_only_suggests(bedrock_analyzer):
    analyzer, stubber = bedrock_analyzer
    stubber.add_response("converse", _answer('{"foods": [{"name": "broccoli", "probability": 0.4}]}'))
    stubber.add_response("converse", _answer('{"foods": [{"name": "broccoli", "probability": 0.95}]}'))
    unsure = respond(analyzer, SIZED_UNKNOWN)
    unsized = respond(analyzer, UNKNOWN)
    for result in (unsure, unsized):
        (item,) = result.items
        assert item.name == "unknown" and item.suggestions[0].name == "broccoli"
        assert item.suggestions[0].source == "bedrock"
        (usage,) = result.usage
        assert usage["service"] == "bedrock" and usage["cost_usd"] > 0
    assert [s.name for s in unsized.items[0].suggestions] == ["broccoli", "bread", "pizza"]


def test_a_throttled_cloud_namer_leaves_the_item_unknown(bedrock_analyzer):
    analyzer, stubber = bedrock_analyzer
    stubber.add_client_error("converse", "ThrottlingException", "slow down", 429)
    (item,) = respond(analyzer, SIZED_UNKNOWN).items
    assert item.name == "unknown" and item.kcal is None


def test_embeddings_are_sent_only_when_asked_and_decode_as_the_bot_reads_them(analyzer):
    import numpy as np

    from bot.gallery.matching import decode_embedding
    from training.inference.plate import embedding_of

    features = np.random.default_rng(0).random(1280).astype(np.float32) * 3
    apple = dataclasses.replace(APPLE, embedding=embedding_of(features))
    findings = PlateFindings([apple], "coin", None, None)
    plain = analyzer.respond(Image.new("RGB", (64, 64)), findings, {}, time.perf_counter())
    embedded = analyzer.respond(Image.new("RGB", (64, 64)), findings, {}, time.perf_counter(), embed=True)
    assert plain.items[0].embedding is None
    vector = decode_embedding(embedded.items[0].embedding)
    assert vector.shape == (1280,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-3)
    assert float(vector @ (features / np.linalg.norm(features))) == pytest.approx(1.0, abs=1e-3)
