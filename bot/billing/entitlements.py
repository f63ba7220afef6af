"""What a subscription entitles to, now: Stripe's status and dates → the tier the ledger applies.

- comped (set by hand): the comped tier, whatever Stripe says;
- active / trialing: the paid tier, until a scheduled cancellation (`cancel_at`) comes;
- past_due: the paid tier for `grace` after the payment first failed, then the free tier;
- canceled, incomplete, incomplete_expired, unpaid, paused, or no subscription: the free tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.storage.protocols import SubscriptionRecord

PAYING = ("active", "trialing")
LIVE = (*PAYING, "past_due")  # a subscription Stripe still bills


@dataclass(frozen=True)
class Entitlement:
    tier: str
    why: str  # comped, active, trialing, grace, grace_over, cancelled, or Stripe's status
    until: datetime | None = None  # when it ends unless something changes (a grace, a scheduled cancellation)


def entitlement(sub: SubscriptionRecord | None, now: datetime, grace: timedelta, free: str) -> Entitlement:
    if sub is None:
        return Entitlement(free, "none")
    if sub.comp_tier:
        return Entitlement(sub.comp_tier, "comped")
    if sub.status not in LIVE:
        return Entitlement(free, sub.status)
    ends = [(sub.cancel_at, "cancelled")] if sub.cancel_at else []
    if sub.status == "past_due":
        ends.append((sub.past_due_since + grace if sub.past_due_since else now, "grace_over"))
    until, why_over = min(ends, key=lambda end: end[0], default=(None, ""))
    if until is not None and now >= until:
        return Entitlement(free, why_over)
    return Entitlement(sub.tier, "grace" if sub.status == "past_due" else sub.status, until)


def from_unix(seconds: int | None) -> datetime | None:
    """A Stripe timestamp as a naive UTC time (how every time is stored)."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def price_tier(subscription: dict, price_tiers: dict[str, str]) -> str | None:
    """The tier of the subscription's price (`price_tiers`: price id → tier), else its `tier` metadata."""
    for item in subscription.get("items", {}).get("data", []):
        price = (item.get("price") or {}).get("id")
        if price in price_tiers:
            return price_tiers[price]
    return (subscription.get("metadata") or {}).get("tier")


def snapshot(
    subscription: dict,
    tier: str,
    before: SubscriptionRecord | None,
    user_id: int,
    event_created: int,
) -> SubscriptionRecord:
    """The record of `subscription` (Stripe's current object, plain data) as of an event created at `event_created`:
    the periods come from its first item (where Stripe's API has them since 2025-03-31), a grace starts at the first
    event that finds it past_due, and the hand-set comp is kept."""
    item = (subscription.get("items", {}).get("data") or [{}])[0]
    start = item.get("current_period_start") or subscription.get("current_period_start")
    end = item.get("current_period_end") or subscription.get("current_period_end")
    at_period_end = bool(subscription.get("cancel_at_period_end"))
    cancel_at = subscription.get("cancel_at") or (end if at_period_end else None)
    status = subscription["status"]
    same = before is not None and before.stripe_subscription_id == subscription["id"]
    past_due_since = None
    if status == "past_due":
        already = same and before.status == "past_due" and before.past_due_since is not None
        past_due_since = before.past_due_since if already else from_unix(event_created)
    customer = subscription.get("customer")
    return SubscriptionRecord(
        user_id=user_id,
        tier=tier,
        status=status,
        current_period_start=from_unix(start),
        current_period_end=from_unix(end),
        cancel_at_period_end=at_period_end,
        cancel_at=from_unix(cancel_at),
        stripe_customer_id=customer if isinstance(customer, str) else (customer or {}).get("id"),
        stripe_subscription_id=subscription["id"],
        last_event_created=max(event_created, before.last_event_created) if same else event_created,
        past_due_since=past_due_since,
        comp_tier=before.comp_tier if before else None,
        comp_reason=before.comp_reason if before else None,
    )
