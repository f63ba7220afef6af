"""Subscriptions and the Stripe events applied: `BillingStore` on DynamoDB.

A subscription is `USER#<id>/SUB` (GSI3 `CUSTOMER#<id>` finds it by Stripe customer; GSI2 `DUE#SUB` lists those
the scheduled check may downgrade). A Stripe event applied is `STRIPEEVENT#<id>`, put with
`attribute_not_exists` (a redelivery is refused) and a TTL of `STRIPE_EVENT_TTL_DAYS` (Stripe stops redelivering
after three days). Inside a unit of work its put is the unit's last write: see `bot.storage.dynamo.base`.
"""

from __future__ import annotations

import time
from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.people import user_pk
from bot.storage.dynamo.table import TTL_ATTRIBUTE, pad, parse_when, when
from bot.storage.protocols import SubscriptionRecord

STRIPE_EVENT_TTL_DAYS = 30
_FIELDS = tuple(SubscriptionRecord.__dataclass_fields__)
_TIMES = ("current_period_start", "current_period_end", "cancel_at", "past_due_since")


def _subscription(item: dict | None) -> SubscriptionRecord | None:
    if item is None:
        return None
    values = {name: item.get(name) for name in _FIELDS}
    for name in _TIMES:
        values[name] = parse_when(values[name])
    values["user_id"] = int(values["user_id"])
    values["cancel_at_period_end"] = bool(values["cancel_at_period_end"])
    values["last_event_created"] = int(values["last_event_created"] or 0)
    return SubscriptionRecord(**values)


class DynamoBilling(DynamoBase):
    def subscription(self, user_id: int) -> SubscriptionRecord | None:
        return _subscription(self.table.get(user_pk(user_id), "SUB"))

    def subscription_by_customer(self, customer_id: str) -> SubscriptionRecord | None:
        for found in self.table.query(f"CUSTOMER#{customer_id}", index="GSI3", limit=1):
            return self.subscription(int(found["user_id"]))  # the index lags: read the row itself
        return None

    def save_subscription(self, record: SubscriptionRecord, now: datetime) -> None:
        item = {"PK": user_pk(record.user_id), "SK": "SUB", "type": "subscription", "updated_at": when(now)}
        for name in _FIELDS:
            value = getattr(record, name)
            item[name] = when(value) if name in _TIMES else value
        item.update(GSI4PK="SUBS", GSI4SK=pad(record.user_id))  # every subscription: counts per tier and status
        if record.stripe_customer_id:
            item.update(GSI3PK=f"CUSTOMER#{record.stripe_customer_id}", GSI3SK="SUB")
        # no earlier than the scheduled check may act: at cancel_at, or once past due (the check applies the grace)
        bounds = [item["cancel_at"]] if record.cancel_at else []
        if record.status == "past_due" and record.past_due_since:
            bounds.append(item["past_due_since"])
        if bounds and record.comp_tier is None:
            item.update(GSI2PK="DUE#SUB", GSI2SK=min(bounds))
        self.table.put(item)

    def add_stripe_event(self, event_id: str, event_type: str, now: datetime) -> bool:
        if self.stripe_event_seen(event_id):
            return False
        item = {
            "PK": f"STRIPEEVENT#{event_id}",
            "SK": "STRIPEEVENT",
            "type": "stripe_event",
            "event_type": event_type,
            "received_at": when(now),
            TTL_ATTRIBUTE: int(time.time()) + STRIPE_EVENT_TTL_DAYS * 86400,
        }
        written = []
        self._commit_point(lambda: written.append(self.table.put(item, "attribute_not_exists(PK)")))
        return written[0] if written else True  # in a unit: written at its end

    def stripe_event_seen(self, event_id: str) -> bool:
        return self.table.get(f"STRIPEEVENT#{event_id}", "STRIPEEVENT") is not None

    def subscriptions_to_check(self, now: datetime, past_due_before: datetime) -> list[SubscriptionRecord]:
        due = []
        for item in self.table.query("DUE#SUB", index="GSI2", until=when(now)):
            sub = self.subscription(int(item["user_id"]))  # the index lags: decide on the row itself
            if sub is None or sub.comp_tier is not None:
                continue
            cancelled = sub.cancel_at is not None and sub.cancel_at <= now
            late = sub.status == "past_due" and sub.past_due_since is not None and sub.past_due_since <= past_due_before
            user = self.table.get(user_pk(sub.user_id), "USER")
            if (cancelled or late) and user is not None and user["tier"] == sub.tier:
                due.append(sub)
        return sorted(due, key=lambda s: s.user_id)

    def claim_stripe_cancellations(self, now: datetime, lease_until: datetime, limit: int) -> list[tuple[str, int]]:
        claimed = self._claim("STRIPECANCEL", now, lease_until, limit)
        return [(i["stripe_subscription_id"], int(i["attempts"])) for i in claimed]

    def stripe_cancelled(self, subscription_id: str) -> None:
        self.table.delete(f"STRIPECANCEL#{subscription_id}", "STRIPECANCEL")

    def stripe_cancellation_failed(self, subscription_id: str, error: str, next_attempt_at: datetime) -> None:
        self._failed(f"STRIPECANCEL#{subscription_id}", "STRIPECANCEL", error, next_attempt_at)
