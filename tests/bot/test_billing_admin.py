"""Billing in the store, the admin CLI and the schema: Stripe events applied through the real client against the
Stripe stand-in (no bot app), comped tiers, the cost-cap list, the migration from revision 0003."""

import inspect
import logging

import pytest
from sqlalchemy import inspect as schema
from sqlalchemy import text
from typer.testing import CliRunner

from bot.admin import app
from bot.billing.changes import Changes
from bot.billing.checkout import StripeGateway
from bot.billing.events import BillingEvents
from bot.settings import BotSettings
from bot.storage.protocols import BillingStore
from bot.storage.records import PENDING, Bucket, utcnow
from bot.storage.sql import migrate
from bot.storage.sql.store import SqlStore

PHONE = "+15550001"


@pytest.fixture
def settings(tmp_path, stripe_api, monkeypatch):
    values = {
        "BOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "BOT_STRIPE_SECRET_KEY": stripe_api.standin.secret_key,
        "BOT_STRIPE_API_BASE": stripe_api.url,
        "BOT_STRIPE_PRICE_IDS": '{"standard": "price_standard_test", "premium": "price_premium_test"}',
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)  # what the admin CLI reads too
    return BotSettings()


@pytest.fixture
def store(settings):
    store = SqlStore(settings.database_url)
    store.create_schema()
    yield store
    store.dispose()


def person(store, phone: str = PHONE):
    """A person who has written to the bot (billing notices go to their latest address)."""
    user = store.get_or_create_user(phone, "free", "UTC")
    store.record_inbound(
        f"SM{phone}", user.id, f"whatsapp:{phone}", "whatsapp:+1415", "hi", [], PENDING, utcnow(), None
    )
    return user


def subscribe(settings, store, stripe, user, tier: str) -> tuple[BillingEvents, list[dict]]:
    """The person pays for `tier` in Checkout; the events Stripe sends, and the handler that applies them."""
    gateway = StripeGateway.from_settings(settings)
    session_id = gateway.checkout_url(user, tier).rsplit("/", 1)[1]
    return BillingEvents(Changes(settings, store), store, gateway), stripe.complete_checkout(session_id)


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_comped_tier_survives_stripe_events_until_handed_back(settings, store, stripe_api):
    user = person(store)
    done = cli("set-tier", PHONE, "premium", "--reason", "press review")
    assert done.exit_code == 0, done.output
    assert "free → premium (comped); the person is told" in done.output
    assert store.get_user(user.id).tier == "premium"
    notices = [row for row in store.outbound() if row["kind"] == "notice"]
    assert len(notices) == 1 and "premium plan is active" in notices[0]["body"]  # queued for the bot's worker
    assert notices[0]["to_addr"] == f"whatsapp:{PHONE}"

    events, stripe_events = subscribe(settings, store, stripe_api.standin, user, "standard")
    assert [events.handle(event).result for event in stripe_events] == ["applied", "applied", "applied"]
    sub = store.subscription(user.id)
    assert (store.get_user(user.id).tier, sub.tier, sub.status, sub.comp_tier) == (
        "premium",
        "standard",
        "active",
        "premium",
    )

    back = cli("set-tier", str(user.id), "stripe", "--reason", "review over")
    assert back.exit_code == 0 and "premium → standard (by Stripe)" in back.output
    assert store.get_user(user.id).tier == "standard"
    logged = [e.detail for e in store.events() if e.kind == "billing" and e.detail.get("by") == "admin"]
    assert [(d["reason"], d["tier"]) for d in logged] == [("press review", "premium"), ("review over", "standard")]


def test_set_tier_refuses_an_unknown_tier_or_person(store):
    person(store)
    assert cli("set-tier", PHONE, "gold", "--reason", "x").exit_code == 1
    missing = cli("set-tier", "+19999999", "premium", "--reason", "x")
    assert missing.exit_code == 1 and "no user with phone +19999999" in missing.output
    assert cli("set-tier", PHONE, "premium").exit_code != 0  # a reason is required


def test_user_shows_tier_subscription_usage_and_cost(settings, store, stripe_api):
    user = person(store)
    events, stripe_events = subscribe(settings, store, stripe_api.standin, user, "premium")
    for event in stripe_events:
        events.handle(event)
    day, month = utcnow().strftime("%Y-%m-%d"), utcnow().strftime("%Y-%m")
    store.add_usage(user.id, [Bucket("day", day), Bucket("month", month)], {"photos": 4, "ai_cost_micro_usd": 1500})
    shown = cli("user", f"whatsapp:{PHONE}")
    assert shown.exit_code == 0, shown.output
    assert f"user {user.id}  tier premium" in shown.output
    assert "subscription: premium active" in shown.output and "entitled now: premium (active)" in shown.output
    vision = 4 * settings.vision_cost_usd_per_photo
    assert f"day {day}: messages 0  photos 4" in shown.output
    assert f"cost ${0.0015 + vision:,.4f} (AI $0.0015, vision ${vision:,.4f}, messaging $0.0000)" in shown.output
    assert cli("user", "999").exit_code == 1


def test_over_cap_lists_only_people_past_their_daily_cap(store, settings):
    spender, saver = person(store, "+15550001"), person(store, "+15550002")
    day = utcnow().strftime("%Y-%m-%d")
    cap = settings.tiers["free"].daily_cost_cap_usd
    store.add_usage(spender.id, [Bucket("day", day)], {"ai_cost_micro_usd": round(cap * 1_000_000)})
    store.add_usage(saver.id, [Bucket("day", day)], {"ai_cost_micro_usd": round(cap * 500_000)})
    store.add_usage(saver.id, [Bucket("day", "2020-01-01")], {"ai_cost_micro_usd": 10**9})  # long ago
    listed = cli("over-cap")
    assert listed.exit_code == 0, listed.output
    assert "over their daily cost cap: 1" in listed.output and f"user {spender.id}  free  {day}" in listed.output


def test_an_event_for_a_customer_nobody_has_is_noted_and_logged_without_personal_data(
    settings, store, stripe_api, caplog
):
    user = person(store)
    events, stripe_events = subscribe(settings, store, stripe_api.standin, user, "standard")
    store.delete_user(user.id)  # the person is gone, Stripe still writes about their subscription
    with caplog.at_level(logging.WARNING, logger="bot.billing.events"):
        assert [events.handle(event).result for event in stripe_events] == ["unknown_person"] * 3
    assert "no person for customer cus_test_" in caplog.text and PHONE not in caplog.text
    assert [events.handle(event).result for event in stripe_events] == ["duplicate"] * 3  # noted: no retry loop
    assert store.subscription(user.id) is None


def test_deleting_a_subscriber_cancels_their_subscription_at_stripe(settings, store, stripe_api):
    user = person(store)
    events, stripe_events = subscribe(settings, store, stripe_api.standin, user, "premium")
    for event in stripe_events:
        events.handle(event)
    subscription_id = store.subscription(user.id).stripe_subscription_id
    store.delete_user(user.id)
    assert store.subscription(user.id) is None and store.outbound() == []  # the notices went with them
    claimed = store.claim_stripe_cancellations(utcnow(), utcnow(), 8)
    assert claimed == [(subscription_id, 1)]  # only the Stripe id is kept, until cancelled there
    StripeGateway.from_settings(settings).cancel(subscription_id)
    store.stripe_cancelled(subscription_id)
    assert stripe_api.standin.subscriptions[subscription_id]["status"] == "canceled"
    assert store.claim_stripe_cancellations(utcnow(), utcnow(), 8) == []


def test_upgrading_from_0003_keeps_the_usage_and_adds_the_billing_tables(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0003")
    store = SqlStore(url)
    try:
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, phone, tier, timezone, opted_out, created_at) VALUES (1, :p, 'free', 'UTC', 0, :t)"
                ),
                {"p": PHONE, "t": utcnow()},
            )
            connection.execute(
                text(
                    "INSERT INTO usage (user_id, period, period_key, messages, photos, ai_input_tokens, ai_output_tokens,"
                    " ai_cost_micro_usd, limit_notices) VALUES (1, 'month', '2026-11', 5, 2, 10, 20, 300, 1)"
                )
            )
        assert migrate.upgrade(url).before == "0003"
        used = store.usage(1, "month", "2026-11")
        assert (used["messages"], used["photos"], used["ai_cost_micro_usd"]) == (5, 2, 300)
        assert (used["ai_conversations"], used["meal_plans_generated"], used["calendar_syncs"]) == (0, 0, 0)
        assert store.subscription(1) is None and store.add_stripe_event("evt_1", "invoice.paid", utcnow())
        assert migrate.downgrade(url, "0003").after == "0003"
        with store.engine.connect() as connection:
            assert "subscriptions" not in schema(connection).get_table_names()
            assert connection.execute(text("SELECT messages FROM usage WHERE user_id = 1")).scalar() == 5
    finally:
        store.dispose()


def test_the_sql_store_implements_the_billing_store_as_declared():
    for name, declared in vars(BillingStore).items():
        if not name.startswith("_") and callable(declared):
            implemented = inspect.signature(getattr(SqlStore, name)).parameters
            assert list(implemented) == list(inspect.signature(declared).parameters), name


def test_set_tier_finds_a_whatsapp_person_by_their_number(store):
    # the bot keeps a WhatsApp person under the address they write from ("whatsapp:+1555..."); operators type the number
    user = store.get_or_create_user("whatsapp:+15550002", "free", "UTC")
    done = cli("set-tier", "+15550002", "standard", "--reason", "trial")
    assert done.exit_code == 0, done.output
    assert store.get_user(user.id).tier == "standard"
