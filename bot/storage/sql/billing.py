"""Subscriptions and the Stripe events applied: `BillingStore` on SQL.

A Stripe event's row (`stripe_events`, keyed by Stripe's event id) is inserted in the unit of work of the change it
makes: a redelivery, even one racing the first, finds it and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select

from bot.storage.protocols import SubscriptionRecord
from bot.storage.records import UserRecord
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase
from bot.storage.sql.outbox import DELIVERED
from bot.storage.sql.people import _user

_FIELDS = tuple(SubscriptionRecord.__dataclass_fields__)


def _subscription(row: t.Subscription | None) -> SubscriptionRecord | None:
    return None if row is None else SubscriptionRecord(**{name: getattr(row, name) for name in _FIELDS})


class SqlBilling(SqlBase):
    def subscription(self, user_id: int) -> SubscriptionRecord | None:
        with self._tx() as s:
            return _subscription(s.get(t.Subscription, user_id))

    def subscription_by_customer(self, customer_id: str) -> SubscriptionRecord | None:
        with self._tx() as s:
            return _subscription(
                s.scalar(select(t.Subscription).where(t.Subscription.stripe_customer_id == customer_id))
            )

    def save_subscription(self, record: SubscriptionRecord, now: datetime) -> None:
        with self._tx() as s:
            row = s.get(t.Subscription, record.user_id)
            if row is None:
                row = t.Subscription(user_id=record.user_id)
                s.add(row)
            for name in _FIELDS:
                setattr(row, name, getattr(record, name))
            row.updated_at = now

    def add_stripe_event(self, event_id: str, event_type: str, now: datetime) -> bool:
        # inside the caller's unit of work: on SQLite it holds the write lock, so the check and insert are atomic;
        # elsewhere the primary key refuses a racing second insert and the whole unit rolls back
        with self._tx() as s:
            if s.get(t.StripeEvent, event_id) is not None:
                return False
            s.add(t.StripeEvent(id=event_id, type=event_type, received_at=now))
            s.flush()
            return True

    def stripe_event_seen(self, event_id: str) -> bool:
        with self._tx() as s:
            return s.get(t.StripeEvent, event_id) is not None

    def subscriptions_to_check(self, now: datetime, past_due_before: datetime) -> list[SubscriptionRecord]:
        sub = t.Subscription
        due = or_(sub.cancel_at <= now, (sub.status == "past_due") & (sub.past_due_since <= past_due_before))
        query = (
            select(sub)
            .join(t.User, t.User.id == sub.user_id)
            .where(t.User.tier == sub.tier, sub.comp_tier.is_(None), due)
            .order_by(sub.user_id)
        )
        with self._tx() as s:
            return [_subscription(row) for row in s.scalars(query)]

    def user_by_phone(self, phone: str) -> UserRecord | None:
        with self._tx() as s:
            row = s.scalar(select(t.User).where(t.User.phone == phone))
            return None if row is None else _user(row)

    def last_address(self, user_id: int) -> tuple[str, str] | None:
        with self._tx() as s:
            m = t.Message
            query = select(m.from_addr, m.to_addr).where(m.user_id == user_id).order_by(m.id.desc()).limit(1)
            found = s.execute(query).first()
            return None if found is None else (found[0], found[1])

    def replies_sent(self, user_id: int, since: datetime, until: datetime) -> int:
        with self._tx() as s:
            o = t.Outbound
            query = select(func.count()).where(
                o.user_id == user_id, o.status.in_(DELIVERED), o.created_at >= since, o.created_at < until
            )
            return s.scalar(query) or 0

    def day_usage_keys(self, since_key: str) -> list[tuple[int, str]]:
        with self._tx() as s:
            u = t.Usage
            query = select(u.user_id, u.period_key).where(u.period == "day", u.period_key >= since_key)
            return [(user_id, key) for user_id, key in s.execute(query.order_by(u.user_id, u.period_key))]

    def claim_stripe_cancellations(self, now: datetime, lease_until: datetime, limit: int) -> list[tuple[str, int]]:
        with self._tx() as s:
            c = t.StripeCancellation
            rows = s.scalars(select(c).where(c.next_attempt_at <= now).order_by(c.next_attempt_at).limit(limit)).all()
            for row in rows:
                row.next_attempt_at, row.attempts = lease_until, row.attempts + 1
            return [(row.stripe_subscription_id, row.attempts) for row in rows]

    def stripe_cancelled(self, subscription_id: str) -> None:
        with self._tx() as s:
            s.execute(
                delete(t.StripeCancellation).where(t.StripeCancellation.stripe_subscription_id == subscription_id)
            )

    def stripe_cancellation_failed(self, subscription_id: str, error: str, next_attempt_at: datetime) -> None:
        with self._tx() as s:
            row = s.get(t.StripeCancellation, subscription_id)
            if row is not None:
                row.last_error, row.next_attempt_at = error, next_attempt_at
