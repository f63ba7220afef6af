"""The cloud namers against real boto3 `bedrock-runtime` and `rekognition` clients whose answers botocore's Stubber
supplies (its parameter validation checks our requests against the services' real models): the JSON we accept
and refuse, names resolved to our foods, Rekognition's food labels, errors, cost, and the PLATE_* settings."""

from __future__ import annotations

import io
import json
import logging
import os
from datetime import datetime
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from PIL import Image

from serving.namers import (
    BedrockVisionNamer,
    FoodVocabulary,
    NamerConfigError,
    NamerSettings,
    RekognitionNamer,
    Usage,
    namer_from_env,
)
from serving.namers.bedrock import parse_answer
from serving.namers.settings import load_settings
from serving.namers.suggestion import jpeg_for_upload

FOODS_YAML = {
    "foods": {
        "apple": {"ndb": "09003", "display": "Apple", "whole": True},
        "litchi": {"ndb": "09164", "display": "Lychee", "whole": True},
        "bun": {"display": "Steamed bun", "whole": False, "custom": {"kcal": 223}},
    },
    "imagenet": {
        "pizza": {"ndb": "21299", "display": "Pizza"},
        "cheeseburger": {"ndb": "21091", "display": "Cheeseburger", "aliases": ["hamburger with cheese"]},
    },
}


@pytest.fixture(autouse=True)
def _no_plate_env(monkeypatch, tmp_path):
    """Settings come from these tests alone, never from the machine's environment or AWS configuration."""
    for name in list(os.environ):
        if name.startswith("PLATE_NAMER") or name.startswith(("PLATE_BEDROCK_", "PLATE_REKOGNITION_")):
            monkeypatch.delenv(name)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def foods_yaml(tmp_path) -> Path:
    path = tmp_path / "foods.yaml"
    path.write_text(yaml.safe_dump(FOODS_YAML))
    return path


@pytest.fixture
def vocabulary(foods_yaml) -> FoodVocabulary:
    return FoodVocabulary.from_foods_yaml(foods_yaml)


@pytest.fixture
def photo() -> Image.Image:
    image = Image.new("RGB", (640, 480), (240, 240, 235))
    image.paste((200, 30, 30), (200, 150, 400, 330))
    return image


def client(service: str):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")


@pytest.fixture
def bedrock(vocabulary):
    namer = BedrockVisionNamer(client("bedrock-runtime"), NamerSettings(), vocabulary)
    with Stubber(namer.client) as stubber:
        yield namer, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def rekognition(vocabulary):
    namer = RekognitionNamer(client("rekognition"), NamerSettings(), vocabulary)
    with Stubber(namer.client) as stubber:
        yield namer, stubber
        stubber.assert_no_pending_responses()


def converse_answer(text: str, tokens_in: int = 1600, tokens_out: int = 40, stop: str = "end_turn") -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": tokens_in, "outputTokens": tokens_out, "totalTokens": tokens_in + tokens_out},
        "metrics": {"latencyMs": 640},
    }


def expect_converse(namer, stubber, photo, text: str, box=None, **answer) -> None:
    request = namer.request(jpeg_for_upload(photo, box, namer.settings.max_side_px))
    stubber.add_response("converse", converse_answer(text, **answer), request)


# --- Bedrock -------------------------------------------------------------------------------------------------------


def test_converse_request_sends_the_photo_as_an_image_block(bedrock, photo):
    namer, _ = bedrock
    request = namer.request(jpeg_for_upload(photo, None, 1024))
    assert request["modelId"] == "amazon.nova-lite-v1:0"
    image, text = request["messages"][0]["content"]
    assert image["image"]["format"] == "jpeg" and image["image"]["source"]["bytes"][:2] == b"\xff\xd8"
    assert "foods" in text["text"] or "foods" in request["system"][0]["text"]
    assert '{"foods": [{"name"' in request["system"][0]["text"] and "at most 5 foods" in request["system"][0]["text"]


def test_good_json_is_resolved_to_our_foods_and_costed(bedrock, photo):
    namer, stubber = bedrock
    answer = {"foods": [{"name": "Strawberries", "probability": 0.62}, {"name": "Lychee", "probability": 0.91}]}
    expect_converse(namer, stubber, photo, json.dumps(answer), tokens_in=1600, tokens_out=40)
    suggestions, usage = namer.name(photo)
    assert [(s.name, s.display, s.ndb, s.source) for s in suggestions] == [
        ("litchi", "Lychee", "09164", "bedrock"),  # an ECUSTFD type, by its display name
        ("strawberry", "Strawberries", "09316", "bedrock"),  # an everyday name → SR28
    ]
    assert [s.probability for s in suggestions] == [0.91, 0.62]
    assert (usage.service, usage.model_id, usage.input_tokens, usage.output_tokens, usage.images) == (
        "bedrock",
        "amazon.nova-lite-v1:0",
        1600,
        40,
        1,
    )
    assert usage.cost_usd == pytest.approx(1600 / 1000 * 0.00006 + 40 / 1000 * 0.00024)
    assert set(usage.as_dict()) >= {"input_tokens", "output_tokens", "cost_usd", "service", "model_id"}


def test_fenced_json_with_prose_is_accepted(bedrock, photo):
    namer, stubber = bedrock
    text = 'Here are the foods:\n```json\n{"foods": [{"name": "pizza", "probability": 0.8}]}\n```\nEnjoy!'
    expect_converse(namer, stubber, photo, text)
    suggestions, _ = namer.name(photo)
    assert [(s.name, s.ndb, s.probability) for s in suggestions] == [("pizza", "21299", 0.8)]  # the imagenet: section


def test_a_fence_wins_over_brackets_in_the_prose_before_it(bedrock, photo):
    namer, stubber = bedrock
    text = 'Two options [1, 2] considered.\n```json\n{"foods": [{"name": "Cheeseburger", "probability": 0.7}]}\n```'
    expect_converse(namer, stubber, photo, text)
    suggestions, _ = namer.name(photo)
    assert [(s.name, s.ndb) for s in suggestions] == [("cheeseburger", "21091")]


def test_an_unknown_name_is_kept_without_an_ndb(bedrock, photo):
    namer, stubber = bedrock
    expect_converse(namer, stubber, photo, '{"foods": [{"name": "Jollof rice", "probability": 0.7}]}')
    (suggestion,), _ = namer.name(photo)
    assert (suggestion.name, suggestion.display, suggestion.ndb, suggestion.source) == (
        "jollof rice",
        "Jollof rice",
        None,
        "bedrock",
    )


def test_a_crop_is_sent_not_the_photo(bedrock, photo):
    namer, stubber = bedrock
    box = (200.0, 150.0, 400.0, 330.0)
    expect_converse(namer, stubber, photo, '{"foods": [{"name": "apple", "probability": 0.9}]}', box=box)
    (suggestion,), _ = namer.name(photo, box=box)  # the stubber refuses any other request
    assert (suggestion.name, suggestion.ndb) == ("apple", "09003")


def test_duplicates_keep_their_best_and_at_most_max_suggestions_come_back(bedrock, photo):
    namer, stubber = bedrock
    foods = [
        {"name": "apple", "probability": 0.3},
        {"name": "red apples", "probability": 0.6},
        {"name": "pizza", "probability": 0.5},
        {"name": "steamed bun", "probability": 0.4},
        {"name": "hamburger with cheese", "probability": 0.35},
    ]
    expect_converse(namer, stubber, photo, json.dumps(foods))  # a bare list is accepted too
    suggestions, _ = namer.name(photo)
    assert [(s.name, s.probability) for s in suggestions] == [("apple", 0.6), ("pizza", 0.5), ("bun", 0.4)]
    assert suggestions[2].ndb is None  # a custom ECUSTFD food: looked up by name


@pytest.mark.parametrize(
    "text",
    [
        "I can see a plate of pasta with tomato sauce.",
        '{"foods": [{"name": "apple", "probability": 1.5}]}',
        '{"foods": [{"probability": 0.5}]}',
        '{"foods": [{"name": "apple", "probabil',  # cut off at maxTokens
        '{"items": ["apple"]}',
        "",
    ],
    ids=["prose", "probability-over-1", "no-name", "truncated", "wrong-key", "empty"],
)
def test_invalid_output_gives_no_suggestions_is_logged_and_still_costed(bedrock, photo, caplog, text):
    namer, stubber = bedrock
    expect_converse(namer, stubber, photo, text, tokens_in=1500, tokens_out=25)
    with caplog.at_level(logging.WARNING, logger="serving.namers.bedrock"):
        suggestions, usage = namer.name(photo)
    assert suggestions == []
    assert "not the JSON asked for" in caplog.text
    assert usage.output_tokens == 25 and usage.cost_usd > 0  # paid for whether or not we could use it


def test_no_food_is_an_empty_answer_not_an_error(bedrock, photo, caplog):
    namer, stubber = bedrock
    expect_converse(namer, stubber, photo, '{"foods": []}')
    with caplog.at_level(logging.WARNING):
        assert namer.name(photo)[0] == []
    assert caplog.text == ""


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailableException", "AccessDeniedException"])
def test_bedrock_errors_give_no_suggestions_and_are_logged(bedrock, photo, caplog, code):
    namer, stubber = bedrock
    stubber.add_client_error("converse", service_error_code=code, http_status_code=429 if "Throttl" in code else 503)
    with caplog.at_level(logging.WARNING, logger="serving.namers.bedrock"):
        suggestions, usage = namer.name(photo)
    assert suggestions == [] and usage.cost_usd == 0 and usage.input_tokens == 0
    assert code in caplog.text


def test_an_unreachable_service_gives_no_suggestions(vocabulary, photo, caplog):
    class Unreachable:
        def converse(self, **_):
            raise EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

        def detect_labels(self, **_):
            raise EndpointConnectionError(endpoint_url="https://rekognition.us-east-1.amazonaws.com")

    for cls in (BedrockVisionNamer, RekognitionNamer):
        with caplog.at_level(logging.WARNING):
            suggestions, usage = cls(Unreachable(), NamerSettings(), vocabulary).name(photo)
        assert suggestions == [] and usage.cost_usd == 0
    assert caplog.text.count("unreachable") == 2


def test_parse_answer_schema():
    assert parse_answer('```\n[{"name": "fig", "probability": 0.2}]\n```').foods[0].name == "fig"
    assert parse_answer('{"foods": [{"name": "fig", "probability": 0.2, "why": "shape"}]}') is not None
    assert parse_answer('{"foods": [{"name": "", "probability": 0.2}]}') is None
    assert parse_answer("[1, 2]") is None


# --- Rekognition ---------------------------------------------------------------------------------------------------


def label(name: str, confidence: float, parents=(), categories=("Food and Beverage",)) -> dict:
    return {
        "Name": name,
        "Confidence": confidence,
        "Instances": [],
        "Parents": [{"Name": p} for p in parents],
        "Aliases": [],
        "Categories": [{"Name": c} for c in categories],
    }


def expect_labels(namer, stubber, photo, labels: list[dict], box=None) -> None:
    request = namer.request(jpeg_for_upload(photo, box, namer.settings.max_side_px))
    stubber.add_response("detect_labels", {"Labels": labels, "LabelModelVersion": "3.0"}, request)


def test_detect_labels_request(rekognition, photo):
    namer, _ = rekognition
    request = namer.request(jpeg_for_upload(photo, None, 1024))
    assert request["Image"]["Bytes"][:2] == b"\xff\xd8"
    assert (request["MaxLabels"], request["MinConfidence"]) == (15, 60.0)


def test_only_specific_food_labels_are_kept(rekognition, photo):
    namer, stubber = rekognition
    labels = [
        label("Food", 99.0, categories=("Food and Beverage",)),
        label("Fruit", 97.5, parents=("Food", "Plant")),
        label("Apple", 96.0, parents=("Fruit", "Food", "Plant")),
        label("Citrus Fruit", 93.0, parents=("Fruit", "Food")),  # broader than Orange below
        label("Orange", 92.0, parents=("Citrus Fruit", "Fruit", "Food")),
        label("Burrito", 81.0, parents=("Food",), categories=()),  # a parent says food, no category
        label("Table", 95.0, parents=("Furniture",), categories=("Home and Indoors",)),
        label("Cutlery", 90.0, parents=(), categories=("Kitchen and Dining",)),
        label("Person", 88.0, categories=("Person Description",)),
    ]
    expect_labels(namer, stubber, photo, labels)
    suggestions, usage = namer.name(photo)
    assert [(s.name, s.display, s.ndb, s.source) for s in suggestions] == [
        ("apple", "Apple", "09003", "rekognition"),
        ("orange", "Orange", "09200", "rekognition"),
        ("burrito", "Burrito", None, "rekognition"),  # not ours: kept, no NDB
    ]
    assert [s.probability for s in suggestions] == pytest.approx([0.96, 0.92, 0.81])
    assert (usage.service, usage.model_id, usage.images, usage.input_tokens) == (
        "rekognition",
        "DetectLabels/3.0",
        1,
        0,
    )
    assert usage.cost_usd == pytest.approx(0.001)


def test_no_food_labels_means_no_suggestions_but_the_image_is_billed(rekognition, photo):
    namer, stubber = rekognition
    expect_labels(namer, stubber, photo, [label("Table", 95.0, parents=("Furniture",), categories=("Home",))])
    suggestions, usage = namer.name(photo)
    assert suggestions == [] and usage.cost_usd == pytest.approx(0.001)


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ProvisionedThroughputExceededException", "InvalidImageFormatException"]
)
def test_rekognition_errors_give_no_suggestions_and_are_logged(rekognition, photo, caplog, code):
    namer, stubber = rekognition
    stubber.add_client_error("detect_labels", service_error_code=code, http_status_code=400)
    with caplog.at_level(logging.WARNING, logger="serving.namers.rekognition"):
        suggestions, usage = namer.name(photo)
    assert suggestions == [] and usage.cost_usd == 0 and usage.images == 0
    assert code in caplog.text


# --- the image sent ------------------------------------------------------------------------------------------------


def test_upload_is_the_crop_shrunk_and_without_exif(photo):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    raw = io.BytesIO()
    photo.save(raw, format="JPEG", exif=exif)
    crop = Image.open(io.BytesIO(jpeg_for_upload(raw.getvalue(), (200, 150, 400, 330), 1024)))
    assert crop.size == (200, 180) and not crop.getexif()
    assert crop.getpixel((100, 90))[0] > 150  # the red square, not the background
    big = Image.open(io.BytesIO(jpeg_for_upload(photo, None, 320)))
    assert big.size == (320, 240)
    with pytest.raises(ValueError, match="empty"):
        jpeg_for_upload(photo, (700, 10, 800, 20), 1024)


def test_a_bad_box_gives_no_suggestions_and_no_call(bedrock, photo, caplog):
    namer, _ = bedrock  # nothing queued: a call would fail the stubber
    with caplog.at_level(logging.ERROR):
        suggestions, usage = namer.name(photo, box=(700, 10, 800, 20))
    assert suggestions == [] and usage.cost_usd == 0
    assert "cannot prepare the image" in caplog.text


# --- food names ----------------------------------------------------------------------------------------------------


def test_real_foods_yaml_resolves_ecustfd_and_everyday_names(repo_root):
    vocabulary = FoodVocabulary.from_foods_yaml(repo_root / "data" / "foods.yaml")
    assert vocabulary.resolve("Kiwi fruit").name == "qiwi"  # ECUSTFD's spelling wins over FOODS' "kiwi"
    assert vocabulary.resolve("Broccoli").ndb == "11090"
    assert vocabulary.resolve("Fried dough twist").name == "fired_dough_twist"
    assert vocabulary.resolve("grapefruit") is None  # never "grape"
    assert vocabulary.resolve("apple pie") is None  # a dish is not its first ingredient
    if "imagenet" in yaml.safe_load((repo_root / "data" / "foods.yaml").read_text()):  # part A's section, once there
        assert vocabulary.resolve("Granny Smith").name == "apple"  # an ImageNet class that is an ECUSTFD food
        assert vocabulary.resolve("French loaf") == vocabulary.resolve("bread")
        assert vocabulary.resolve("Head cabbage").name == "cabbage"
        assert (vocabulary.resolve("Cheeseburgers").name, vocabulary.resolve("Hot dog").name) == (
            "cheeseburger",
            "hotdog",
        )
        assert vocabulary.resolve("ice cream").name == "ice_cream" and vocabulary.resolve("Consommé").name == "consomme"


def test_imagenet_section_is_read_defensively(tmp_path, caplog):
    path = tmp_path / "foods.yaml"
    spec = {
        "foods": {"apple": {"ndb": "09003", "display": "Apple"}},
        "imagenet": {"classes": [{"key": "bagel", "ndb": 18001}, "junk", {"ndb": "1"}], "threshold": 0.4},
    }
    path.write_text(yaml.safe_dump(spec))
    with caplog.at_level(logging.WARNING):
        vocabulary = FoodVocabulary.from_foods_yaml(path)
    assert (vocabulary.resolve("Bagels").name, vocabulary.resolve("bagel").ndb) == ("bagel", "18001")
    assert caplog.text.count("ignored") == 2
    path.write_text(yaml.safe_dump({"foods": {}, "imagenet": {"pizza": "21299", "hotdog": None}}))
    assert FoodVocabulary.from_foods_yaml(path).resolve("pizza").ndb == "21299"
    path.write_text("imagenet: [unclosed")
    assert FoodVocabulary.from_foods_yaml(path).resolve("banana").ndb == "09040"  # FOODS still answer
    assert FoodVocabulary.from_foods_yaml(tmp_path / "absent.yaml").resolve("banana").ndb == "09040"


# --- settings ------------------------------------------------------------------------------------------------------


def test_no_namer_by_default():
    assert load_settings().namer == "none"
    assert namer_from_env() is None


def test_bedrock_namer_from_env(monkeypatch, foods_yaml):
    monkeypatch.setenv("PLATE_NAMER", " Bedrock ")
    monkeypatch.setenv("PLATE_BEDROCK_VISION_MODEL", "us.amazon.nova-pro-v1:0")
    monkeypatch.setenv("PLATE_BEDROCK_VISION_USD_PER_1K_INPUT_TOKENS", "0.0008")
    monkeypatch.setenv("PLATE_NAMER_FOODS_YAML", str(foods_yaml))
    monkeypatch.setenv("PLATE_NAMER_REGION", "eu-west-1")
    namer = namer_from_env()
    assert isinstance(namer, BedrockVisionNamer)
    assert namer.settings.bedrock_vision_model == "us.amazon.nova-pro-v1:0"
    assert namer.cost_usd(1000, 0) == pytest.approx(0.0008)
    assert namer.client.meta.region_name == "eu-west-1" and namer.vocabulary.resolve("pizza").ndb == "21299"


def test_rekognition_namer_from_env_with_a_given_client(monkeypatch):
    monkeypatch.setenv("PLATE_NAMER", "rekognition")
    monkeypatch.setenv("PLATE_REKOGNITION_MIN_CONFIDENCE", "75")
    given = client("rekognition")
    namer = namer_from_env(client=given)
    assert isinstance(namer, RekognitionNamer) and namer.client is given
    assert namer.request(b"\xff\xd8")["MinConfidence"] == 75.0


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("PLATE_NAMER", "bedrok", "PLATE_NAMER='bedrok': not one of none, bedrock, rekognition"),
        ("PLATE_REKOGNITION_MIN_CONFIDENCE", "150", "PLATE_REKOGNITION_MIN_CONFIDENCE='150'"),
        ("PLATE_NAMER_MAX_SUGGESTIONS", "three", "PLATE_NAMER_MAX_SUGGESTIONS='three'"),
    ],
)
def test_bad_values_are_refused_by_name(monkeypatch, variable, value, words):
    monkeypatch.setenv(variable, value)
    with pytest.raises(NamerConfigError) as refused:
        namer_from_env()
    assert words in str(refused.value)


def test_a_cloud_namer_without_a_region_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PLATE_NAMER", "rekognition")
    with pytest.raises(NamerConfigError, match="needs an AWS region: set PLATE_NAMER_REGION or AWS_REGION"):
        namer_from_env()


def test_usage_reaches_the_bot_ledger_as_cost_not_coach_tokens(tmp_path):
    pytest.importorskip("sqlalchemy", reason="the bot's ledger needs the [bot] install")
    from bot.ledger import Ledger
    from bot.settings import BotSettings
    from bot.storage.sql.store import SqlStore

    settings = BotSettings(database_url=f"sqlite:///{tmp_path / 'bot.db'}")
    store = SqlStore(settings.database_url)
    store.create_schema()
    try:
        ledger, user = Ledger(store, settings), store.get_or_create_user("+15550001", "free", "UTC")
        now = datetime(2026, 12, 2, 12, 0)
        usage = Usage("bedrock", "amazon.nova-lite-v1:0", 1600, 40, 1, 1600 / 1000 * 0.00006 + 40 / 1000 * 0.00024)
        ledger.record_namer_usage(user, json.loads(json.dumps(usage.as_dict())), now)  # as it comes over HTTP
        ledger.record_namer_usage(user, Usage("rekognition", "DetectLabels", images=1, cost_usd=0.001).as_dict(), now)
        month = store.usage(user.id, "month", "2026-12")
        assert month["ai_cost_micro_usd"] == round(usage.cost_usd * 1e6) + 1000
        assert (month["ai_input_tokens"], month["ai_output_tokens"]) == (0, 0)  # the coach's allowance is untouched
    finally:
        store.dispose()
