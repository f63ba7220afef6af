"""The usage ledger's counters: `UsageStore` on SQL, one guarded UPDATE per bucket in one transaction."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, update

from bot.storage.records import Bucket
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase, ensure_row

_COUNTERS = (
    "messages",
    "photos",
    "ai_input_tokens",
    "ai_output_tokens",
    "ai_cost_micro_usd",
    "limit_notices",
    "ai_conversations",
    "meal_plans_generated",
    "calendar_syncs",
)


class _LimitReached(Exception):
    def __init__(self, bucket: Bucket):
        super().__init__(bucket)
        self.bucket = bucket


def _usage_key(user_id: int, bucket: Bucket):
    return t.Usage.user_id == user_id, t.Usage.period == bucket.period, t.Usage.period_key == bucket.key


class SqlUsage(SqlBase):
    def consume(self, user_id: int, buckets: list[Bucket], counter: str, amount: int) -> Bucket | None:
        column = getattr(t.Usage, counter)
        try:
            with self._tx() as s:
                for bucket in buckets:
                    ensure_row(s, t.Usage, user_id=user_id, period=bucket.period, period_key=bucket.key)
                    stmt = update(t.Usage).where(*_usage_key(user_id, bucket)).values({counter: column + amount})
                    if bucket.limit is not None:
                        stmt = stmt.where(column + amount <= bucket.limit)
                    if s.execute(stmt).rowcount != 1:
                        raise _LimitReached(bucket)  # rolls back what the earlier buckets added
        except _LimitReached as reached:
            return reached.bucket
        return None

    def add_usage(self, user_id: int, buckets: list[Bucket], amounts: dict[str, int]) -> None:
        with self._tx() as s:
            for bucket in buckets:
                ensure_row(s, t.Usage, user_id=user_id, period=bucket.period, period_key=bucket.key)
                values = {k: getattr(t.Usage, k) + v for k, v in amounts.items()}
                s.execute(update(t.Usage).where(*_usage_key(user_id, bucket)).values(values))

    def usage(self, user_id: int, period: str, key: str) -> dict[str, int]:
        with self._tx() as s:
            row = s.get(t.Usage, (user_id, period, key))
            return {k: getattr(row, k) if row else 0 for k in _COUNTERS}

    def usages(self, user_id: int, period: str, keys: Collection[str]) -> dict[str, dict[str, int]]:
        wanted = list(dict.fromkeys(keys))
        with self._tx() as s:
            query = select(t.Usage).where(
                t.Usage.user_id == user_id, t.Usage.period == period, t.Usage.period_key.in_(wanted)
            )
            rows = {row.period_key: row for row in s.scalars(query)}
            return {key: {k: getattr(rows[key], k) if key in rows else 0 for k in _COUNTERS} for key in wanted}
