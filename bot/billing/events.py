"""Stripe's webhook events → subscription changes. Blocking: the webhook runs `handle` off the loop.

Robust to what Stripe does to deliveries:
- twice, or two copies at once: the event's id is inserted (`stripe_events`) in the unit of work of its change;
  the second finds it and changes nothing;
- out of order: the event only says *which* subscription changed; its state is read back from Stripe now
  (`GET /v1/subscriptions/{id}`), and an event older than the last one applied to that subscription is noted
  and skipped, so a late `customer.subscription.created` never undoes a newer update;
- for a customer we don't know: logged (ids only) and acknowledged, so Stripe stops retrying it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.billing.changes import Applied, Changes
from bot.billing.checkout import PERSON_KEY, StripeGateway, person_ref, ref_user_id
from bot.billing.entitlements import LIVE, price_tier, snapshot
from bot.storage.protocols import BillingBotStore
from bot.storage.records import UserRecord, utcnow

log = logging.getLogger(__name__)
HANDLED = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
)


@dataclass(frozen=True)
class Outcome:
    """What became of an event: applied, duplicate, stale, ignored, unknown_person."""

    result: str
    user_id: int | None = None
    applied: Applied | None = None


def _about(event_type: str, obj: dict) -> tuple[str | None, str | None, str | None]:
    """(subscription id, customer id, person reference) an event names."""
    customer = obj.get("customer")
    customer = customer if isinstance(customer, str) or customer is None else customer.get("id")
    if event_type == "checkout.session.completed":
        if obj.get("mode") != "subscription":
            return None, customer, None
        return _id(obj.get("subscription")), customer, obj.get("client_reference_id")
    if event_type.startswith("customer.subscription."):
        return obj.get("id"), customer, (obj.get("metadata") or {}).get(PERSON_KEY)
    # invoices: the subscription is under parent.subscription_details since API 2025-03-31, at the top before
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    subscription = details.get("subscription") or obj.get("subscription")
    return _id(subscription), customer, (details.get("metadata") or {}).get(PERSON_KEY)


def _id(value) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


@dataclass
class BillingEvents:
    changes: Changes
    store: BillingBotStore
    gateway: StripeGateway

    def handle(self, event: dict) -> Outcome:
        """Apply one verified Stripe event (plain data); raises `BillingUnavailable` when Stripe can't be read
        (the webhook answers 500 and Stripe retries)."""
        event_id, event_type = event["id"], event["type"]
        if event_type not in HANDLED:
            return Outcome("ignored")
        if self.store.stripe_event_seen(event_id):
            return Outcome("duplicate")
        subscription_id, customer, ref = _about(event_type, event["data"]["object"])
        if subscription_id is None:
            return self._noted(event, "ignored")
        subscription = self.gateway.subscription(subscription_id)
        if subscription is None:
            if not event_type.startswith("customer.subscription."):
                log.warning("stripe event %s (%s): subscription %s not found", event_id, event_type, subscription_id)
                return self._noted(event, "ignored")
            subscription = event["data"]["object"]  # gone at Stripe: the event's copy is the last word
        ref = ref or (subscription.get("metadata") or {}).get(PERSON_KEY)
        user = self._person(ref, customer or _id(subscription.get("customer")))
        if user is None:
            log.warning(
                "stripe event %s (%s): no person for customer %s (subscription %s); acknowledged",
                event_id,
                event_type,
                customer,
                subscription_id,
            )
            return self._noted(event, "unknown_person")
        tier = price_tier(subscription, {price: tier for tier, price in self.changes.settings.stripe_price_ids.items()})
        if tier not in self.changes.settings.tiers:
            log.error("stripe event %s: subscription %s has no price of a known tier", event_id, subscription_id)
            return self._noted(event, "ignored", user.id)
        return self._apply(event, user, subscription, tier)

    def _apply(self, event: dict, user: UserRecord, subscription: dict, tier: str) -> Outcome:
        now = utcnow()
        source = {"stripe_event": event["id"], "type": event["type"]}
        with self.store.unit_of_work():
            if not self.store.add_stripe_event(event["id"], event["type"], now):
                return Outcome("duplicate", user.id)
            user = self.store.get_user(user.id)  # the tier as granted now, inside the transaction
            before = self.store.subscription(user.id)
            same = before is not None and before.stripe_subscription_id == subscription["id"]
            if same and event["created"] < before.last_event_created:
                self.store.add_event("billing_stale", now, user_id=user.id, detail=source)
                return Outcome("stale", user.id)
            if not same and before is not None and before.status in LIVE and subscription["status"] not in LIVE:
                # an old subscription's news while another one is live: the live one stands
                self.store.add_event("billing_other", now, user_id=user.id, detail=source)
                return Outcome("ignored", user.id)
            after = snapshot(subscription, tier, before, user.id, event["created"])
            applied = self.changes.apply(user, after, now, event["id"], source)
        return Outcome("applied", user.id, applied)

    def _noted(self, event: dict, result: str, user_id: int | None = None) -> Outcome:
        self.store.add_stripe_event(event["id"], event["type"], utcnow())
        return Outcome(result, user_id)

    def _person(self, ref: str | None, customer: str | None) -> UserRecord | None:
        """The person a reference names (checked against their phone), else the one with this Stripe customer."""
        user_id = ref_user_id(ref)
        if user_id is not None:
            try:
                user = self.store.get_user(user_id)
            except KeyError:
                user = None
            if user is not None and person_ref(user, self.gateway.reference_key) == ref:
                return user
        known = self.store.subscription_by_customer(customer) if customer else None
        return self.store.get_user(known.user_id) if known else None
