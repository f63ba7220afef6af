"""`POST /stripe/webhook` of the running bot (uvicorn) with events signed by the `stripe` library's own helper, the
real client reading subscriptions back from the Stripe stand-in: signatures, replays, order, strangers, races."""

import json
import logging
import threading
import time

import httpx
import stripe

from bot.devtools.stripe_standin import webhook_request

TOLERANCE_S = 300


def signed_up(billing, tier: str = "standard") -> tuple[str, list[dict]]:
    """The person writes, asks to upgrade, opens the link and pays for `tier`: (subscription id, Stripe's events)."""
    billing.bot.send("hi")
    reply = "\n".join(billing.bot.send(f"upgrade to {tier}"))
    link = next(word for word in reply.split() if "/billing/checkout?" in word)
    opened = billing.open_link(link)
    assert opened.status_code == 200 and "STAND-IN Checkout" in opened.text  # followed our 303 to Checkout
    session_id = str(opened.url).rsplit("/", 1)[1]
    events = billing.stripe.complete_checkout(session_id)
    return events[0]["data"]["object"]["id"], events


def billing_events(billing) -> list[dict]:
    return [e.detail for e in billing.bot.store.events() if e.kind == "billing"]


def notices(billing) -> list[str]:
    return [row["body"] for row in billing.bot.store.outbound() if row["kind"] == "notice"]


def test_a_bad_signature_is_refused_with_400_and_changes_nothing(billing_bot, caplog):
    billing = billing_bot()
    _, events = signed_up(billing)
    event, secret = events[1], billing.bot.settings.stripe_webhook_secret.get_secret_value()
    url = billing.bot.server.url + "/stripe/webhook"
    body, headers = webhook_request(event, secret)
    cases = (
        webhook_request(event, "whsec_not_ours"),
        (body.replace(b'"complete"', b'"open"'), headers),  # tampered with
        (body, {}),  # unsigned
        webhook_request(event, secret, int(time.time()) - TOLERANCE_S - 60),  # an old delivery replayed
        (b"{", {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header("{", secret)}),  # not JSON
        webhook_request({"object": "event"}, secret),  # not an event
    )
    with caplog.at_level(logging.WARNING, logger="bot.billing.webhook"):
        for content, sent in cases:
            response = httpx.post(url, content=content, headers=sent, trust_env=False)
            assert response.status_code == 400, response.text
    assert billing.tier() == "free" and billing.bot.store.subscription(billing.bot.user_id()) is None
    assert not billing.bot.store.stripe_event_seen(event["id"])
    assert "bad or missing signature" in caplog.text
    assert event["data"]["object"]["client_reference_id"] not in caplog.text  # nothing of the payload is logged


def test_a_replayed_event_changes_things_once(billing_bot):
    billing = billing_bot()
    _, events = signed_up(billing)
    assert billing.deliver_all(events) == ["applied", "applied", "applied"]
    assert billing.deliver_all(events) == ["duplicate"] * 3
    assert billing.tier() == "standard"
    assert [d["change"] for d in billing_events(billing)] == ["activated", None, None]
    assert len(notices(billing)) == 1
    billing.bot.twilio.standin.wait_for_messages(1)  # the notice went out by REST


def test_an_update_delivered_before_the_creation_wins(billing_bot):
    billing = billing_bot()
    subscription_id, created = signed_up(billing, "standard")
    later = created[0]["created"] + 60
    updated = billing.stripe.set_price(subscription_id, "price_premium_test", at=later)  # upgraded in the Portal
    assert json.dumps(created[0]).count("price_standard_test") == 1  # the creation's payload says standard
    assert billing.deliver_all(updated + created) == ["applied", "stale", "stale", "stale"]
    assert billing.tier() == "premium"  # the late creation did not undo the update
    assert billing.bot.store.subscription(billing.bot.user_id()).last_event_created == later
    assert [e.kind for e in billing.bot.store.events() if e.kind.startswith("billing")].count("billing_stale") == 3
    assert len(notices(billing)) == 1


def test_an_event_about_a_stranger_is_acknowledged_and_logged(billing_bot, caplog):
    billing = billing_bot()
    client = stripe.StripeClient(
        billing.stripe.secret_key, base_addresses={"api": billing.bot.settings.stripe_api_base}
    )
    session = client.v1.checkout.sessions.create(  # made elsewhere: no person of ours on it
        {"mode": "subscription", "line_items": [{"price": "price_premium_test", "quantity": 1}], "success_url": "x"}
    )
    events = billing.stripe.complete_checkout(session.id)
    with caplog.at_level(logging.WARNING, logger="bot.billing.events"):
        assert billing.deliver_all(events) == ["unknown_person"] * 3
    assert "no person for customer cus_test_" in caplog.text
    assert billing.bot.store.outbound() == [] and billing_events(billing) == []


def test_concurrent_copies_of_one_event_change_things_once(billing_bot):
    billing = billing_bot()
    _, events = signed_up(billing)
    results, start = [], threading.Barrier(6)

    def deliver():
        start.wait()
        results.append(billing.deliver(events[0]))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.status_code for r in results] == [200] * 6
    assert sorted(r.json()["result"] for r in results) == ["applied"] + ["duplicate"] * 5
    assert [d["change"] for d in billing_events(billing)] == ["activated"] and len(notices(billing)) == 1
    assert billing.tier() == "standard"


def test_stripe_unreachable_answers_500_and_the_retry_applies_it(billing_bot):
    billing = billing_bot()
    _, events = signed_up(billing)
    billing.stripe.unavailable = True
    assert billing.deliver(events[0]).status_code == 500  # Stripe retries a 5xx
    assert not billing.bot.store.stripe_event_seen(events[0]["id"])
    billing.stripe.unavailable = False
    assert billing.deliver_all(events[:1]) == ["applied"] and billing.tier() == "standard"


def test_links_open_checkout_and_the_portal_and_refuse_tampering(billing_bot):
    billing = billing_bot()
    billing.bot.send("hi")
    assert "You don't have a subscription" in billing.bot.send("billing")[0]
    reply = billing.bot.send("upgrade")[0]
    assert "Standard: 15 meal photos a day and 4 meal plans a month." in reply
    assert "Premium: 60 meal photos a day and 31 meal plans a month." in reply
    link = next(word for word in reply.split() if "t=premium" in word)
    assert billing.open_link(link.replace("t=premium", "t=standard")).status_code == 404
    assert billing.bot.number not in link and billing.bot.sender not in link
    session = billing.stripe.sessions[str(billing.open_link(link).url).rsplit("/", 1)[1]]
    assert billing.bot.sender not in json.dumps(session)  # Stripe never sees the phone number
    assert session["client_reference_id"].startswith(f"{billing.bot.user_id()}-")
    assert session["subscription_data"]["metadata"]["person"] == session["client_reference_id"]
    billing.deliver_all(billing.stripe.complete_checkout(session["id"]))
    manage = billing.bot.send("billing")[0]
    portal = billing.open_link(next(word for word in manage.split() if "/billing/portal?" in word))
    assert "STAND-IN Customer Portal" in portal.text
    cancel = billing.bot.send("cancel subscription")[0]
    billing.open_link(next(word for word in cancel.split() if "/billing/portal?" in word))
    flow = billing.stripe.portal_sessions[-1]["flow"]
    assert flow["type"] == "subscription_cancel" and flow["subscription_cancel"]["subscription"].startswith("sub_")
    assert "You're subscribed to premium" in billing.bot.send("upgrade")[0]  # not a second subscription


def test_without_stripe_keys_billing_is_off(make_bot):
    bot = make_bot()
    assert bot.send("upgrade") == ["Payments aren't set up yet, so plans can't be bought here."]
    response = httpx.post(bot.server.url + "/stripe/webhook", content=b"{}", trust_env=False)
    assert response.status_code == 503
