"""`OpsStore` on SQL: the counts /metrics reads at scrape time and the pages of people the analytics export walks."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase


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
