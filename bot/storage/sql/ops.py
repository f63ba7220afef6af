"""`OpsStore` on SQL: the counts /metrics reads at scrape time and the pages of people the analytics export walks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase
from bot.storage.sql.outbox import DELIVERED


class SqlOps(SqlBase):
    def count_outbound(self, status: str) -> int:
        with self._tx() as s:
            return s.scalar(select(func.count()).select_from(t.Outbound).where(t.Outbound.status == status)) or 0

    def people_by_tier(self) -> dict[str, int]:
        with self._tx() as s:
            return dict(s.execute(select(t.User.tier, func.count()).group_by(t.User.tier)).all())

    def subscriptions_by_status(self) -> dict[tuple[str, str], int]:
        with self._tx() as s:
            query = select(t.Subscription.tier, t.Subscription.status, func.count()).group_by(
                t.Subscription.tier, t.Subscription.status
            )
            return {(tier, status): count for tier, status, count in s.execute(query)}

    def user_ids(self, after: int = 0, limit: int = 500) -> list[int]:
        with self._tx() as s:
            query = select(t.User.id).where(t.User.id > after).order_by(t.User.id).limit(limit)
            return list(s.scalars(query))

    def usage_rows(self, period: str, since_key: str) -> list[tuple[int, str, str, str, int, int]]:
        with self._tx() as s:
            u = t.Usage
            query = (
                select(u.user_id, t.User.tier, t.User.timezone, u.period_key, u.photos, u.ai_cost_micro_usd)
                .join(t.User, t.User.id == u.user_id)
                .where(u.period == period, u.period_key >= since_key)
                .order_by(u.user_id, u.period_key)
            )
            return [tuple(row) for row in s.execute(query)]

    def replies_sent_by_user(self, since: datetime, until: datetime, timezone: str) -> dict[int, int]:
        with self._tx() as s:
            o = t.Outbound
            query = (
                select(o.user_id, func.count())
                .join(t.User, t.User.id == o.user_id)
                .where(
                    t.User.timezone == timezone, o.status.in_(DELIVERED), o.created_at >= since, o.created_at < until
                )
                .group_by(o.user_id)
            )
            return dict(s.execute(query).all())
