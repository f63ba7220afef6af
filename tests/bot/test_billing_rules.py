"""Billing's rules without Stripe: entitlements, the ledger's costs, cap and meal plans, signed links, commands."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from starlette.requests import Request

from bot.billing.changes import change_of
from bot.billing.entitlements import entitlement, snapshot
from bot.billing.links import BROKEN, EXPIRED, _verified, signed_link
from bot.coach.commands import classify
from bot.ledger import Ledger, period_bounds
from bot.settings import BotSettings
from bot.storage.protocols import SubscriptionRecord
from bot.storage.records import Bucket
from bot.storage.sql.store import SqlStore

NOW = datetime(2026, 11, 24, 12, 0)
GRACE = timedelta(days=3)


def sub(**values) -> SubscriptionRecord:
    return replace(SubscriptionRecord(1, "premium", "active", stripe_subscription_id="sub_1"), **values)


@pytest.mark.parametrize(
    ("record", "tier", "why"),
    [
        (None, "free", "none"),
        (sub(), "premium", "active"),
        (sub(status="trialing"), "premium", "trialing"),
        (sub(status="past_due", past_due_since=NOW - timedelta(days=2)), "premium", "grace"),
        (sub(status="past_due", past_due_since=NOW - timedelta(days=3)), "free", "grace_over"),
        (sub(cancel_at=NOW + timedelta(hours=1)), "premium", "active"),
        (sub(cancel_at=NOW), "free", "cancelled"),
        (sub(status="past_due", past_due_since=NOW, cancel_at=NOW - timedelta(hours=1)), "free", "cancelled"),
        *[(sub(status=status), "free", status) for status in ("canceled", "incomplete", "incomplete_expired")],
        (sub(status="unpaid"), "free", "unpaid"),
        (sub(status="canceled", comp_tier="standard"), "standard", "comped"),
    ],
)
def test_entitlement_follows_the_status_the_grace_and_the_cancellation(record, tier, why):
    got = entitlement(record, NOW, GRACE, "free")
    assert (got.tier, got.why) == (tier, why)


def test_a_grace_and_a_scheduled_cancellation_say_until_when():
    assert entitlement(sub(status="past_due", past_due_since=NOW), NOW, GRACE, "free").until == NOW + GRACE
    assert entitlement(sub(cancel_at=NOW + timedelta(days=9)), NOW, GRACE, "free").until == NOW + timedelta(days=9)


PERIOD_END = 1_792_592_000
PERIOD_END_UTC = datetime.fromtimestamp(PERIOD_END, UTC).replace(tzinfo=None)


def stripe_subscription(status="active", **values) -> dict:
    item = {"price": {"id": "price_p"}, "current_period_start": 1_790_000_000, "current_period_end": PERIOD_END}
    return {"id": "sub_1", "customer": "cus_1", "status": status, "items": {"data": [item]}, "metadata": {}, **values}


def test_snapshot_reads_the_periods_from_the_item_and_starts_a_grace_once():
    first = snapshot(stripe_subscription("past_due"), "premium", None, 1, 1_790_000_100)
    assert first.current_period_end == PERIOD_END_UTC and first.past_due_since is not None
    again = snapshot(stripe_subscription("past_due"), "premium", first, 1, 1_790_900_000)
    assert again.past_due_since == first.past_due_since  # the grace counts from the first failure
    assert snapshot(stripe_subscription(cancel_at_period_end=True), "premium", again, 1, 1).cancel_at == PERIOD_END_UTC
    assert snapshot(stripe_subscription(), "premium", again, 1, 1).past_due_since is None  # paid: the grace is over
    assert snapshot(stripe_subscription(), "premium", again, 1, 1).last_event_created == 1_790_900_000


@pytest.mark.parametrize(
    ("granted", "before", "after", "said"),
    [
        ("free", None, sub(), "activated"),
        ("standard", sub(tier="standard"), sub(), "changed"),
        ("premium", sub(), sub(status="past_due", past_due_since=NOW), "payment_failed"),
        ("premium", sub(status="past_due", past_due_since=NOW), sub(), "payment_recovered"),
        ("premium", sub(), sub(cancel_at=NOW + GRACE), "cancel_scheduled"),
        ("premium", sub(cancel_at=NOW + GRACE), sub(), "resumed"),
        ("premium", sub(), sub(status="canceled"), "ended"),
        ("premium", sub(status="past_due", past_due_since=NOW - GRACE), None, "payment_lapsed"),
        ("premium", sub(), sub(), None),
        ("free", sub(status="canceled"), sub(status="canceled"), None),
    ],
)
def test_each_change_is_told_once_in_its_own_words(granted, before, after, said):
    after = after or before
    assert change_of(granted, before, after, entitlement(after, NOW, GRACE, "free"), "free") == said


@pytest.fixture
def store(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    yield store
    store.dispose()


def test_meal_plans_are_counted_per_month_by_tier_and_refunded(store):
    ledger = Ledger(store, BotSettings())
    free = store.get_or_create_user("+15550001", "free", "UTC")
    assert ledger.reserve_meal_plan(free, NOW) is None
    hit = ledger.reserve_meal_plan(free, NOW)
    assert (hit.what, hit.period, hit.limit) == ("meal_plans", "month", 1)
    ledger.refund_meal_plan(free, NOW)
    assert ledger.reserve_meal_plan(free, NOW) is None  # the refund gave it back
    assert ledger.reserve_meal_plan(free, NOW + timedelta(days=7)) is None  # December: a new month
    standard = store.get_or_create_user("+15550002", "standard", "UTC")
    assert [ledger.reserve_meal_plan(standard, NOW) is None for _ in range(5)] == [True] * 4 + [False]
    assert ledger.reserve_calendar_sync(free, NOW).what == "calendar_syncs"  # the free tier has none


def test_the_cost_of_a_person_is_ai_vision_and_messaging(store):
    settings = BotSettings(vision_cost_usd_per_photo=0.01, twilio_cost_usd_per_message=0.02)
    ledger = Ledger(store, settings)
    user = store.get_or_create_user("+15550001", "free", "UTC")
    ledger.record_ai_usage(user, 1000, 200, 0.003, NOW)
    assert ledger.reserve_photos(user, 2, NOW) is None
    for i, status in enumerate(("sent", "twiml", "failed")):  # a reply never delivered costs nothing
        row = store.enqueue_outbound(
            "SM1", f"reply-{i}", "whatsapp:+15550001", "whatsapp:+1415", "hi", NOW, NOW, user.id
        )
        store.mark_outbound(row.id, status, NOW)
    cost = ledger.costs(user, "day", "2026-11-24")
    assert (cost.ai_usd, cost.vision_usd, cost.messaging_usd) == (0.003, 0.02, 0.04)
    assert cost.total_usd == pytest.approx(0.063)
    assert ledger.costs(user, "day", "2026-11-25").total_usd == 0
    assert store.usage(user.id, "month", "2026-11")["ai_conversations"] == 1


def test_past_the_daily_cost_cap_no_photos_no_meal_plans_no_ai(store):
    tiers = BotSettings().tiers
    settings = BotSettings(tiers={**tiers, "free": tiers["free"].model_copy(update={"daily_cost_cap_usd": 0.05})})
    ledger = Ledger(store, settings)
    user = store.get_or_create_user("+15550001", "free", "UTC")
    assert ledger.over_cost_cap(user, NOW) is None and ledger.ai_tokens_left(user, NOW) > 0
    store.add_usage(user.id, [Bucket("day", "2026-11-24"), Bucket("month", "2026-11")], {"ai_cost_micro_usd": 50_000})
    hit = ledger.reserve_photos(user, 1, NOW)
    assert (hit.what, hit.period, hit.limit) == ("cost", "day", 5)
    assert ledger.reserve_meal_plan(user, NOW).what == "cost"
    assert ledger.ai_tokens_left(user, NOW) == 0
    assert store.usage(user.id, "day", "2026-11-24")["photos"] == 0  # nothing was reserved
    assert ledger.reserve_photos(user, 1, NOW + timedelta(days=1)) is None  # a new day


def test_period_bounds_are_the_local_day_and_month_in_utc():
    assert period_bounds("day", "2026-11-24", "UTC") == (NOW.replace(hour=0), datetime(2026, 11, 25))
    # the day the clocks go back in New York lasts 25 hours
    start, end = period_bounds("day", "2026-11-01", "America/New_York")
    assert (start, end - start) == (datetime(2026, 11, 1, 4), timedelta(hours=25))
    assert period_bounds("month", "2026-12", "Europe/Paris") == (datetime(2026, 11, 30, 23), datetime(2026, 12, 31, 23))


def request_for(url: str) -> Request:
    path, _, query = url.partition("?")
    return Request({"type": "http", "method": "GET", "path": path, "query_string": query.encode(), "headers": []})


def test_links_are_signed_for_one_action_one_person_and_expire():
    key = b"reference-key"
    url = signed_link("https://bot.test", key, "checkout", 7, NOW, 3600, "premium")
    assert url.startswith("https://bot.test/billing/checkout?")
    assert _verified(request_for(url), key, NOW) == ("checkout", 7, "premium")
    assert _verified(request_for(url), key, NOW + timedelta(hours=2)) == EXPIRED
    assert _verified(request_for(url), b"another key", NOW) == BROKEN
    for tampered in (
        url.replace("u=7", "u=8"),
        url.replace("premium", "standard"),
        url.replace("a=checkout", "a=cancel"),
    ):
        assert _verified(request_for(tampered), key, NOW) == BROKEN


@pytest.mark.parametrize(
    ("said", "name", "arg"),
    [
        ("upgrade", "upgrade", ""),
        ("Upgrade to premium!", "upgrade", "premium"),
        ("upgrade my plan", "upgrade", ""),
        ("billing", "billing", ""),
        ("Manage my subscription", "billing", ""),
        ("cancel subscription", "cancel_subscription", ""),
        ("cancel my subscription", "cancel_subscription", ""),
    ],
)
def test_billing_commands_are_read_with_their_argument(said, name, arg):
    assert classify(said) == type(classify("help"))(name, arg)


def test_cancel_alone_is_not_a_billing_command():
    assert classify("cancel") is None and classify("Cancel.") is None
