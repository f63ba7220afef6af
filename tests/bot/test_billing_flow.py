"""Subscriptions end to end through the running bot: upgrade → Checkout → premium limits → payment failed, grace →
deleted → free, each change told and logged; and what time alone does (the billing worker's scheduled check)."""

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from waiting import wait_for

from bot.devtools.stripe_standin import MONTH_S
from bot.storage.records import utcnow

LIMITED = "photo analyses"  # words of the photo limit notice


def upgrade_and_pay(billing, tier: str, at: int | None = None) -> tuple[str, list[dict]]:
    """ "upgrade" → the link of `tier` → Checkout (the stand-in) → paid: (subscription id, Stripe's events)."""
    reply = billing.bot.send("upgrade")[0]
    link = next(word for word in reply.split() if f"t={tier}" in word)
    session_id = str(billing.open_link(link).url).rsplit("/", 1)[1]
    events = billing.stripe.complete_checkout(session_id, at)
    return events[0]["data"]["object"]["id"], events


def sent_to_alice(billing) -> list[str]:
    return [m["body"] for m in billing.bot.twilio.standin.messages if m["to"] == f"whatsapp:{billing.bot.sender}"]


def test_upgrade_pay_fail_delete_end_to_end(billing_bot):
    billing = billing_bot()
    bot, store = billing.bot, billing.bot.store
    for _ in range(3):
        assert LIMITED not in bot.send_photo()[0]
    assert LIMITED in bot.send_photo()[0]  # the free tier's 3 photos a day

    subscription_id, events = upgrade_and_pay(billing, "premium")
    assert billing.deliver_all(events) == ["applied"] * 3 and billing.tier() == "premium"
    welcome = wait_for(lambda: [m for m in sent_to_alice(billing) if "premium plan is active" in m], "welcome")
    assert "60 meal photos a day and 31 meal plans a month" in welcome[0]
    assert LIMITED not in bot.send_photo()[0]  # the 4th photo of the day, on premium

    assert billing.deliver_all(billing.stripe.fail_payment(subscription_id)) == ["applied", "applied"]
    assert billing.tier() == "premium"  # the grace: kept for now
    failed = wait_for(lambda: [m for m in sent_to_alice(billing) if "didn't go through" in m], "payment failed")
    assert "You keep premium until" in failed[0] and "send billing" in failed[0]
    assert store.subscription(bot.user_id()).status == "past_due"
    assert LIMITED not in bot.send_photo()[0]

    assert billing.deliver_all(billing.stripe.end(subscription_id)) == ["applied"]
    assert billing.tier() == "free"
    ended = wait_for(lambda: [m for m in sent_to_alice(billing) if "you're on the free plan" in m], "ended")
    assert "Send upgrade to subscribe again" in ended[0]
    assert bot.send_photo() == []  # back to 3 a day, 5 analysed already: refused (told once an hour, above)
    assert store.usage(bot.user_id(), "day", time.strftime("%Y-%m-%d", time.gmtime()))["photos"] == 5

    logged = [e.detail for e in store.events() if e.kind == "billing"]
    assert [(d["change"], d["tier"], d["status"]) for d in logged if d["change"]] == [
        ("activated", "premium", "active"),
        ("payment_failed", "premium", "past_due"),
        ("ended", "free", "canceled"),
    ]
    assert {d["type"] for d in logged} == {e["type"] for e in events} | {"invoice.payment_failed"} | {
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }


def test_a_paid_invoice_ends_the_grace(billing_bot):
    billing = billing_bot()
    billing.bot.send("hi")
    subscription_id, events = upgrade_and_pay(billing, "standard")
    billing.deliver_all(events)
    billing.deliver_all(billing.stripe.fail_payment(subscription_id))
    assert billing.bot.store.subscription(billing.bot.user_id()).past_due_since is not None
    billing.deliver_all(billing.stripe.pay(subscription_id))
    sub = billing.bot.store.subscription(billing.bot.user_id())
    assert (sub.status, sub.past_due_since, billing.tier()) == ("active", None, "standard")
    changes = [e.detail["change"] for e in billing.bot.store.events() if e.kind == "billing" and e.detail["change"]]
    assert changes == ["activated", "payment_failed", "payment_recovered"]


def test_the_scheduled_check_ends_a_grace_while_the_person_says_nothing(billing_bot):
    billing = billing_bot(past_due_grace_days=1.0 / 24)  # an hour's grace
    billing.bot.send("hi")
    subscription_id, events = upgrade_and_pay(billing, "premium")
    billing.deliver_all(events)
    billing.deliver_all(billing.stripe.fail_payment(subscription_id))
    store, uid = billing.bot.store, billing.bot.user_id()
    sub = store.subscription(uid)
    assert sub.past_due_since is not None and billing.tier() == "premium"  # in grace
    # two hours pass with no word from the person and no event from Stripe (every one was delivered above, so
    # no webhook can be the one that notices): only the scheduled check can end the grace
    store.save_subscription(replace(sub, past_due_since=sub.past_due_since - timedelta(hours=2)), utcnow())
    wait_for(lambda: billing.tier() == "free", "the grace ended by the scheduled check")
    lapsed = wait_for(lambda: [m for m in sent_to_alice(billing) if "payment didn't come through" in m], "told")
    assert "you're now on the free plan" in lapsed[0]
    events = store.events()
    failed = next(i for i, e in enumerate(events) if e.kind == "billing" and e.detail["change"] == "payment_failed")
    after = [e for e in events[failed + 1 :] if e.kind == "billing"]
    assert [(e.detail["by"], e.detail["change"], e.detail["why"]) for e in after if e.detail["change"]] == [
        ("scheduled_check", "payment_lapsed", "grace_over")
    ]
    assert not [e for e in events[failed + 1 :] if e.kind == "received"]  # nobody wrote meanwhile


def test_a_cancellation_at_period_end_downgrades_when_the_period_ends(billing_bot):
    billing = billing_bot()
    billing.bot.send("hi")
    started = int(time.time()) - MONTH_S + 2  # the period paid for ends in 2 s
    subscription_id, events = upgrade_and_pay(billing, "standard", at=started)
    billing.deliver_all(events)
    billing.deliver_all(billing.stripe.schedule_cancel(subscription_id))
    assert billing.tier() == "standard"  # paid until the end of the period
    cancelled = wait_for(lambda: [m for m in sent_to_alice(billing) if "is cancelled" in m], "told of the cancel")
    assert "you keep it until" in cancelled[0]
    wait_for(lambda: billing.tier() == "free", "downgraded at the end of the period")
    wait_for(lambda: [m for m in sent_to_alice(billing) if "Your plan has ended" in m], "told it ended")
    # Stripe's own deletion comes after: nothing more changes, nothing more is said
    assert billing.deliver_all(billing.stripe.end(subscription_id)) == ["applied"]
    assert [e.detail["change"] for e in billing.bot.store.events() if e.kind == "billing"][-1] is None
    assert len([n for n in billing.bot.store.outbound() if n["kind"] == "notice"]) == 3  # active, cancelled, ended


@pytest.mark.parametrize("resume", [False, True], ids=["cancel", "resume"])
def test_a_scheduled_cancellation_can_be_undone_before_the_end(billing_bot, resume):
    billing = billing_bot()
    billing.bot.send("hi")
    subscription_id, events = upgrade_and_pay(billing, "premium")
    billing.deliver_all(events)
    billing.deliver_all(billing.stripe.schedule_cancel(subscription_id))
    if resume:
        billing.stripe.subscriptions[subscription_id]["cancel_at_period_end"] = False
        billing.deliver_all(billing.stripe.set_price(subscription_id, "price_premium_test"))
    sub = billing.bot.store.subscription(billing.bot.user_id())
    assert (sub.cancel_at is None) == resume and billing.tier() == "premium"
    said = billing.bot.send("cancel subscription")[0]
    assert ("confirm here" in said) == resume and ("already cancelled" in said) == (not resume)


def test_the_limit_notice_is_the_persons_own_link_to_checkout(billing_bot):
    billing = billing_bot()
    for _ in range(3):
        billing.bot.send_photo()
    (notice,) = billing.bot.send_photo()
    assert LIMITED in notice and "The standard plan gives" in notice
    link = next(word for word in notice.split() if "/billing/checkout" in word)
    assert "t=standard" in link
    session_id = str(billing.open_link(link).url).rsplit("/", 1)[1]
    assert billing.deliver_all(billing.stripe.complete_checkout(session_id)) == ["applied"] * 3
    assert billing.tier() == "standard"
