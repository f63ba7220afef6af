"""Bot pieces on their own: reply formatting, commands, form parsing, signatures, settings, the contract."""

import asyncio
import base64
import hashlib
import hmac
from datetime import datetime
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from bot import chat_text
from bot.channel.inbound import BadWebhook, Inbound, phone_of
from bot.channel.service import BotService
from bot.channel.webhook import signature_ok
from bot.coach.commands import parse_command
from bot.devtools.simulate import signed, twilio_form
from bot.devtools.standins import DEFAULT_ITEMS, analyze_response, standin_item
from bot.ledger import period_keys
from bot.photos import meal_reply as photo_reply
from bot.photos.analysis_client import Analysis
from bot.photos.meal_analysis import Outcome, PhotoMeal, retry_delay
from bot.settings import BotSettings
from bot.storage.records import DONE, DayTotals, ItemRecord


def item(name="Apple", grams=181.3, low=150.2, high=209.7, kcal=94.3, index=0) -> ItemRecord:
    return ItemRecord(index, name.lower(), name, grams, low, high, kcal, 0.5, 0.3, 25.0, 0.9)


def test_item_line_is_short_and_rounded():
    assert chat_text.item_line(item(), whatsapp=True) == "Apple ~180 g (150–210 g), 94 kcal"
    assert chat_text.item_line(item(), whatsapp=False) == "Apple ~180 g (150-210 g), 94 kcal"


@pytest.mark.parametrize(("grams", "text"), [(7.4, "7"), (43.0, "45"), (183.4, "185"), (1254.0, "1,250")])
def test_grams_are_rounded_like_estimates(grams, text):
    assert chat_text.grams(grams) == text


def test_meal_reply_has_items_meal_total_and_day():
    day = DayTotals("2026-11-24", meals=2, kcal=650.4, protein_g=20, fat_g=10, carbs_g=90)
    text = photo_reply.meal_reply([item(), item("Banana", 120, 100, 140, 106.8)], day, whatsapp=True)
    assert text.splitlines() == [
        "Apple ~180 g (150–210 g), 94 kcal",
        "Banana ~120 g (100–140 g), 107 kcal",
        "*Meal: 201 kcal* (protein 1 g, fat 1 g, carbs 50 g)",
        "Today so far: 650 kcal in 2 meals (protein 20 g, fat 10 g, carbs 90 g)",
    ]


def test_sms_reply_stays_in_gsm7_and_few_segments():
    day = DayTotals("2026-11-24", meals=3, kcal=1650, protein_g=60, fat_g=50, carbs_g=200)
    items = [item(), item("Banana", 120, 100, 140, 107, 1), item("Bread", 60, 50, 70, 160, 2)]
    text = photo_reply.meal_reply(items, day, whatsapp=False, photos=3)
    assert all(c in chat_text.GSM7_BASIC or c in chat_text.GSM7_EXTENSION for c in text), text
    assert chat_text.sms_segments(text) <= 3
    assert chat_text.sms_segments("Apple ~180 g (150–210 g)") == 1 and chat_text.sms_segments("–" * 71) == 2


def test_very_long_reply_fits_one_twilio_message():
    items = [item(f"Very long food name number {i} " * 3, index=i) for i in range(40)]
    text = photo_reply.meal_reply(items, DayTotals("d", 1, 9000), whatsapp=True, photos=40, notes=["x" * 900])
    assert len(text) <= chat_text.MAX_CHARS
    assert "+30 more" in text


def test_no_food_found_uses_the_server_hint():
    assert photo_reply.meal_reply([], DayTotals("d"), True, hint="take it from above") == "take it from above"


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("help", "help"),
        (" Today! ", "today"),
        ("UNDO", "undo"),
        ("Stop", "stop"),
        ("start", "start"),
        ("2 eggs and toast", None),
        ("", None),
    ],
)
def test_parse_command(body, command):
    assert parse_command(body) == command


def test_inbound_from_twilio_form():
    form = twilio_form(
        "SM1",
        "whatsapp:+15550001",
        "whatsapp:+1415",
        "",
        [("https://m/1", "image/jpeg"), ("https://m/2", "application/pdf")],
    )
    inbound = Inbound.from_form(form)
    assert inbound.sid == "SM1" and [m.content_type for m in inbound.media] == ["image/jpeg", "application/pdf"]
    assert phone_of(inbound.from_addr) == phone_of("+15550001") == "+15550001"
    with pytest.raises(BadWebhook, match="MessageSid"):
        Inbound.from_form({"From": "+1", "To": "+2"})
    with pytest.raises(BadWebhook, match="NumMedia"):
        Inbound.from_form({**form, "NumMedia": "two"})


def test_retry_backoff_doubles_up_to_a_cap():
    assert [retry_delay(n, 30, 600) for n in (1, 2, 3, 5, 9)] == [30, 60, 120, 480, 600]


def test_days_are_the_users_local_days():
    late_evening_utc = datetime(2026, 11, 24, 23, 30)
    assert period_keys(late_evening_utc, "UTC")["day"] == "2026-11-24"
    assert period_keys(late_evening_utc, "Asia/Tokyo") == {
        "hour": "2026-11-25T08",
        "day": "2026-11-25",
        "month": "2026-11",
    }
    assert period_keys(datetime(2026, 12, 1, 3), "America/New_York")["month"] == "2026-11"


PUBLIC = "https://bot.example.test"


def settings(**overrides) -> BotSettings:
    return BotSettings(public_url=PUBLIC, twilio_auth_token="secret-token", **overrides)


def test_signature_is_checked_against_the_public_url():
    form = twilio_form("SM1", "+15550001", "+1415", "hi")
    _, headers = signed(form, PUBLIC, "secret-token")
    url = PUBLIC + "/twilio/webhook"
    assert signature_ok(settings(), url, form, headers)
    assert not signature_ok(settings(), url, {**form, "Body": "hi!"}, headers)  # tampered
    assert not signature_ok(settings(), "http://127.0.0.1:8000/twilio/webhook", form, headers)  # host rewritten
    assert not signature_ok(settings(), url, form, {})  # missing
    assert not signature_ok(BotSettings(public_url=PUBLIC), url, form, headers)  # no token configured: refuse all


def test_shared_key_signatures_use_the_algorithm_twilio_names():
    form = twilio_form("SM1", "+15550001", "+1415", "hi")
    url = PUBLIC + "/twilio/webhook"
    payload = url + "".join(k + form[k] for k in sorted(form))
    signature = base64.b64encode(hmac.new(b"shared-key", payload.encode(), hashlib.sha256).digest()).decode()
    headers = {"X-Twilio-Signature": signature, "X-Twilio-Webhooks-Signature-Settings": "key=k1,algorithm=HMAC_SHA256"}
    assert signature_ok(settings(twilio_webhook_shared_key="shared-key"), url, form, headers)
    assert not signature_ok(settings(), url, form, headers)  # no shared key configured


def test_settings_refuse_inconsistent_values():
    with pytest.raises(ValidationError, match="Twilio gives up"):
        BotSettings(reply_budget_s=14.5)
    with pytest.raises(ValidationError, match="unknown timezone"):
        BotSettings(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="default_tier"):
        BotSettings(default_tier="gold")


def test_settings_come_from_bot_environment(monkeypatch):
    monkeypatch.setenv("BOT_SERVING_URL", "http://10.0.0.5:3000/")
    monkeypatch.setenv(
        "BOT_TIERS",
        '{"free": {"photos_per_day": 1, "photos_per_month": 5, "messages_per_day": 9, '
        '"messages_per_hour": 3, "ai_tokens_per_month": 0, "pitch": "p"}}',
    )
    loaded = BotSettings()
    assert loaded.serving_url == "http://10.0.0.5:3000" and loaded.tiers["free"].photos_per_day == 1


def test_standin_answers_follow_the_serving_contract():
    """The stand-in must stay true to serving/schemas.py, and the bot's mirror must read the real schema."""
    from serving.schemas import AnalyzeResponse

    for items in (DEFAULT_ITEMS, (), (standin_item("rice", 150, 130),)):
        contract = AnalyzeResponse.model_validate(analyze_response(items))
        mirrored = Analysis.model_validate_json(contract.model_dump_json())
        assert [i.display_name for i in mirrored.items] == [i.display_name for i in contract.items]
        assert mirrored.models["detector"].version == contract.models["detector"].version


def test_the_channel_puts_the_coachs_lines_under_a_photo_meal_and_a_failing_coach_loses_no_reply():
    meal = PhotoMeal((item(),), DayTotals("d", 1, 94.3), True, 1, (), None, datetime(2026, 11, 24, 12))

    class Analyser:
        async def analyse(self, message, user, coach):  # inside its unit of work, the coach adds its lines
            return Outcome(DONE, meal.reply(coach(meal)), "result", meal)

    class Coach:
        def __init__(self, fails: bool):
            self.fails = fails

        def after_photo(self, user, totals, now, ask, items=()):
            assert (totals, now, ask) == (meal.totals, meal.at, True)
            if self.fails:
                raise RuntimeError("coach down")
            return ["Tip: a pear next."]

    for fails, footer in ((False, ["Tip: a pear next."]), (True, [])):
        service = BotService(BotSettings(), None, None, Analyser(), None, Coach(fails))
        outcome = asyncio.run(service._analyse(SimpleNamespace(sid="SM1"), None))
        assert outcome.reply == photo_reply.meal_reply([item()], meal.totals, True, footer=footer)
