"""Cost monitoring: daily cost per person per service from the ledger, alerts raised once per person (or day)
with an event, a log line, an SNS publish (botocore Stubber) and an admin WhatsApp message through the real outbox
and Twilio client (LOCAL STAND-IN); the `bot.admin costs` report."""

from __future__ import annotations

import logging
import time

import boto3
import pytest
from botocore.stub import ANY, Stubber
from typer.testing import CliRunner
from waiting import wait_for

from bot.ledger import Ledger, period_keys
from bot.ops.alerts import CostAlerts
from bot.ops.costs import day_costs
from bot.settings import BotSettings
from bot.storage.records import utcnow
from bot.storage.sql.store import SqlStore

TOPIC = "arn:aws:sns:us-east-1:123456789012:plate-coach-costs"
ADMIN = "whatsapp:+15559990000"


@pytest.fixture
def store(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'costs.db'}")
    store.create_schema()
    yield store
    store.dispose()


def spend(store, settings, phone: str, ai_usd: float, photos: int = 0, tz: str = "UTC"):
    user = store.get_or_create_user(phone, "free", tz)
    ledger, now = Ledger(store, settings), utcnow()
    ledger.record_ai_usage(user, 100, 50, ai_usd, now)
    if photos:
        assert ledger.reserve_photos(user, photos, now) is None
    return user


def sns_stub():
    client = boto3.client("sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_a_person_over_the_threshold_alerts_once_a_day(store, caplog):
    settings = BotSettings(
        cost_alert_person_usd=0.30, cost_alert_day_usd=0, cost_alert_sns_topic_arn=TOPIC, vision_cost_usd_per_photo=0.01
    )
    heavy = spend(store, settings, "+15550101", ai_usd=0.35, photos=2)
    spend(store, settings, "+15550102", ai_usd=0.05)
    client, stub = sns_stub()
    stub.add_response(
        "publish", {"MessageId": "m-1"}, {"TopicArn": TOPIC, "Subject": ANY, "Message": ANY}
    )  # exactly one publish
    caplog.set_level(logging.WARNING, logger="bot.ops.alerts")
    alerts = CostAlerts(store, settings, sns=lambda: client)
    with stub:
        raised, rows = alerts.check(utcnow())
        again, _ = alerts.check(utcnow())
        stub.assert_no_pending_responses()
    assert [(a.scope, a.user_id) for a in raised] == [("person", heavy.id)] and again == [] and rows == []
    alert = raised[0]
    assert alert.cost_usd == pytest.approx(0.37) and alert.services["vision"] == pytest.approx(0.02)
    events = store.events_of_kind(("cost_alert",))
    assert len(events) == 1 and events[0].user_id == heavy.id
    assert events[0].detail["services"] == {"ai": 0.35, "vision": 0.02, "messaging": 0.0}
    assert sum("Cost alert" in r.getMessage() for r in caplog.records) == 1


def test_the_whole_day_alerts_once_and_a_failed_publish_is_only_logged(store, caplog):
    settings = BotSettings(cost_alert_person_usd=0, cost_alert_day_usd=0.5, cost_alert_sns_topic_arn=TOPIC)
    for i in range(3):
        spend(store, settings, f"+1555020{i}", ai_usd=0.2)
    client, stub = sns_stub()
    stub.add_client_error("publish", "AuthorizationError", "not allowed", 403)
    caplog.set_level(logging.ERROR, logger="bot.ops.alerts")
    alerts = CostAlerts(store, settings, sns=lambda: client)
    with stub:
        raised, _ = alerts.check(utcnow())
    assert [(a.scope, a.user_id, round(a.cost_usd, 6)) for a in raised] == [("day", None, 0.6)]
    assert alerts.check(utcnow())[0] == []  # once a day
    assert any("not published to SNS" in r.getMessage() for r in caplog.records)
    assert [e.detail["scope"] for e in store.events_of_kind(("cost_alert",))] == ["day"]


def test_the_running_bot_messages_the_admin_once(make_bot):
    bot = make_bot(
        cost_check_s=0.05,
        cost_alert_person_usd=0.001,  # one photo (vision + its reply) passes it
        cost_alert_day_usd=0,
        cost_alert_whatsapp_to=ADMIN,
        cost_alert_from="whatsapp:+14155238886",
    )
    assert bot.send_photo()
    wait_for(lambda: [m for m in bot.twilio.standin.messages if m["to"] == ADMIN], "an admin alert sent")
    time.sleep(0.3)  # several more checks run meanwhile
    to_admin = [m for m in bot.twilio.standin.messages if m["to"] == ADMIN]
    assert len(to_admin) == 1 and "Cost alert" in to_admin[0]["body"]
    assert bot.sender not in to_admin[0]["body"]  # the person by id, never by number
    user = bot.store.user_by_phone(bot.sender)
    assert f"user {user.id} (free)" in to_admin[0]["body"]
    assert [e.user_id for e in bot.store.events_of_kind(("cost_alert",))] == [user.id]


def test_the_costs_report(store, monkeypatch):
    from bot.admin import app

    settings = BotSettings(cost_alert_person_usd=0.25, vision_cost_usd_per_photo=0.01)
    heavy = spend(store, settings, "+15550301", ai_usd=0.3, photos=1)
    light = spend(store, settings, "+15550302", ai_usd=0.01)
    day = period_keys(utcnow(), "UTC")["day"]
    costs = day_costs(store, Ledger(store, settings), day)
    assert [c.user_id for c in costs] == [heavy.id, light.id]  # most expensive first
    assert costs[0].ai_usd == pytest.approx(0.3) and costs[0].vision_usd == pytest.approx(0.01)

    monkeypatch.setenv("BOT_COST_ALERT_PERSON_USD", "0.25")
    monkeypatch.setenv("BOT_VISION_COST_USD_PER_PHOTO", "0.01")
    url = store.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["costs", "--day", day, "--database-url", url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"costs on {day}: $0.3200 for 2 people") and "vision $0.0100" in lines[0]
    person = next(line for line in lines if f"user {heavy.id} " in line)
    assert "total $0.3100" in person and "over the alert" in person
    assert "+15550301" not in result.output
    assert "over the alert" not in next(line for line in lines if f"user {light.id} " in line)
    other = CliRunner().invoke(app, ["costs", "--day", "2020-01-01", "--database-url", url])
    assert other.exit_code == 0 and other.output.startswith("costs on 2020-01-01: $0.0000 for 0 people")
    bad = CliRunner().invoke(app, ["costs", "--day", "yesterday", "--database-url", url])
    assert bad.exit_code == 1 and "not a date" in bad.output


def test_bulk_costs_equal_the_ledger_person_by_person(store):
    from datetime import timedelta

    from bot.ops.costs import bulk_costs

    settings = BotSettings(vision_cost_usd_per_photo=0.01, twilio_cost_usd_per_message=0.005)
    now, ledger = utcnow(), Ledger(store, settings)
    people = []
    for i, tz in enumerate(("UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "UTC")):
        user = spend(store, settings, f"+1555040{i}", ai_usd=0.01 * (i + 1), photos=min(i, 3), tz=tz)
        for n in range(i + 1):  # delivered replies: the messaging cost
            row = store.enqueue_outbound(
                f"SMbulk{i}-{n}",
                "reply",
                f"whatsapp:{user.phone}",
                "whatsapp:+1",
                "hi",
                now,
                now + timedelta(seconds=30),
                user.id,
            )
            store.mark_twiml([row.id])
        people.append(user)
    for period in ("day", "month"):
        bulk = {c.user_id: c for c in bulk_costs(store, settings, period, now)}
        assert set(bulk) == {u.id for u in people}
        for user in people:
            expected = ledger.costs(user, period, period_keys(now, user.timezone)[period])
            got = bulk[user.id]
            assert (got.ai_usd, got.vision_usd, got.messaging_usd) == pytest.approx(
                (expected.ai_usd, expected.vision_usd, expected.messaging_usd)
            ), (period, user.timezone)
            assert got.messaging_usd > 0
