"""The Bedrock coach against a real boto3 `bedrock-runtime` client whose responses botocore's Stubber supplies:
request shape, token usage and cost in the ledger, the prompt cache, and the fall back to the local coach."""

from datetime import datetime

import boto3
import pytest
from botocore.stub import Stubber

from bot.coach.tips import BedrockCoach, CoachFacts, LocalCoach, TtlCache, make_coach
from bot.ledger import Ledger
from bot.settings import BotSettings
from bot.storage.sql.store import SqlStore

NOW = datetime(2026, 11, 24, 12, 0)
FACTS = CoachFacts(
    moment="meal_logged",
    goal="lose_weight",
    allergies="peanut",
    target={"kcal": 1700, "protein_g": 106, "fat_g": 57, "carbs_g": 191, "is_default": True},
    eaten={"kcal": 200, "protein_g": 2, "fat_g": 1, "carbs_g": 53},
    remaining={"kcal": 1500, "protein_g": 104, "fat_g": 56, "carbs_g": 138},
    options=[{"name": "Grilled chicken, rice and broccoli", "kcal": 525, "protein_g": 52}],
)


def answer(text: str, tokens_in: int = 420, tokens_out: int = 38) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": tokens_in, "outputTokens": tokens_out, "totalTokens": tokens_in + tokens_out},
        "metrics": {"latencyMs": 310},
    }


@pytest.fixture
def world(tmp_path):
    settings = BotSettings(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        coach="bedrock",
        aws_region="us-east-1",
        bedrock_model_id="amazon.nova-micro-v1:0",
        bedrock_max_tokens=120,
    )
    store = SqlStore(settings.database_url)
    store.create_schema()
    ledger = Ledger(store, settings)
    user = store.get_or_create_user("+15550001", "free", "UTC")
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    clock = [0.0]
    coach = BedrockCoach(client, settings, ledger, cache=TtlCache(60, 16, clock=lambda: clock[0]))
    with Stubber(client) as stubber:
        yield coach, stubber, store, user, clock
    store.dispose()


def expected_request(coach: BedrockCoach) -> dict:
    return coach.request(FACTS)


def test_converse_request_and_usage_land_in_the_ledger(world):
    coach, stubber, store, user, _ = world
    request = expected_request(coach)
    assert request["modelId"] == "amazon.nova-micro-v1:0" and request["inferenceConfig"]["maxTokens"] == 120
    assert '"remaining": {"carbs_g": 138, "fat_g": 56, "kcal": 1500' in request["messages"][0]["content"][0]["text"]
    stubber.add_response("converse", answer("Nice start! Build dinner around lean protein and vegetables."), request)
    tip = coach.tip(user, FACTS, NOW)
    assert (tip.source, tip.text) == ("bedrock", "Nice start! Build dinner around lean protein and vegetables.")
    usage = store.usage(user.id, "month", "2026-11")
    assert (usage["ai_input_tokens"], usage["ai_output_tokens"]) == (420, 38)
    assert usage["ai_cost_micro_usd"] == round((420 * 0.000035 + 38 * 0.00014) / 1000 * 1e6)
    stubber.assert_no_pending_responses()


def test_identical_prompts_are_cached_until_the_ttl(world):
    coach, stubber, store, user, clock = world
    stubber.add_response("converse", answer("Keep going: protein first at dinner."), expected_request(coach))
    assert coach.tip(user, FACTS, NOW).source == "bedrock"
    assert coach.tip(user, FACTS, NOW).source == "cache"  # no second call: the stubber would raise
    assert store.usage(user.id, "month", "2026-11")["ai_input_tokens"] == 420
    clock[0] = 61.0
    stubber.add_response("converse", answer("Keep going: protein first at dinner."), expected_request(coach))
    assert coach.tip(user, FACTS, NOW).source == "bedrock"
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailableException", "AccessDeniedException"])
def test_errors_fall_back_to_the_local_coach(world, code):
    coach, stubber, store, user, _ = world
    stubber.add_client_error("converse", service_error_code=code, http_status_code=429 if "Throttl" in code else 503)
    tip = coach.tip(user, FACTS, NOW)
    assert tip == LocalCoach().tip(user, FACTS, NOW) and tip.source == "local"
    assert store.usage(user.id, "month", "2026-11")["ai_input_tokens"] == 0


def test_a_tip_with_numbers_we_did_not_give_is_refused(world):
    coach, stubber, store, user, _ = world
    stubber.add_response("converse", answer("Eat 3000 kcal of cake tonight."), expected_request(coach))
    tip = coach.tip(user, FACTS, NOW)
    assert tip.source == "local"
    assert store.usage(user.id, "month", "2026-11")["ai_output_tokens"] == 38  # paid for all the same


def test_numbers_from_the_facts_are_allowed(world):
    coach, stubber, _, user, _ = world
    stubber.add_response(
        "converse", answer("You have 1,500 kcal and 104 g protein left today."), expected_request(coach)
    )
    assert coach.tip(user, FACTS, NOW).source == "bedrock"


def test_no_tokens_left_means_no_call(world):
    coach, _, _, user, _ = world
    coach.ledger.record_ai_usage(user, 20_000, 0, 0.0, NOW)  # the free tier's month
    assert coach.tip(user, FACTS, NOW).source == "local"  # the stubber has no response queued: no call was made


def test_local_coach_is_the_default_without_aws(monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    assert isinstance(make_coach(BotSettings(), None), LocalCoach)
    assert isinstance(make_coach(BotSettings(coach="local", aws_region="us-east-1"), None), LocalCoach)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    assert isinstance(make_coach(BotSettings(aws_region="eu-west-1"), None), BedrockCoach)


def test_local_coach_is_deterministic_and_plain():
    tip = LocalCoach().tip(None, FACTS, NOW)
    assert tip == LocalCoach().tip(None, FACTS, NOW) and tip.text.isascii()
