"""What operations read in bulk (`OpsStore` of `bot/ops`: /metrics gauges, the cost report, the analytics export)
on DynamoDB, each from an index or counter made for it, never a Scan:

* outbox rows per status: GSI4 `OUTSTATUS#<status>` (Select=COUNT; delivered rows by creation time);
* people per tier: one counter item `TIERS/COUNT`, changed in the transaction of each creation, tier change
  and delete (exact, one read);
* subscriptions per (tier, status): GSI4 `SUBS` (paying people only);
* people by id, a page at a time: GSI3 `USERS`;
* usage rows of a period from a key on: GSI3 `USAGEDAY#<day>` / `USAGEMONTH#<month>`, one partition per key up to
  the next one (the furthest time zone), joined to the people by BatchGetItem.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.outbox import DELIVERED
from bot.storage.dynamo.people import user_pk
from bot.storage.dynamo.table import pad, when
from bot.storage.dynamo.usage import usage_list
from bot.storage.records import utcnow


def _keys_from(period: str, since_key: str) -> list[str]:
    """Every day or month key from `since_key` to tomorrow's or next month's."""
    if period == "day":
        first, last = date.fromisoformat(since_key), utcnow().date() + timedelta(days=1)
        return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    if period == "month":
        year, month = map(int, since_key.split("-"))
        now = utcnow().date()
        end_year, end_month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
        keys = []
        while (year, month) <= (end_year, end_month):
            keys.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return keys
    raise ValueError(f"usage rows are listed per 'day' or 'month', not {period!r}")


class DynamoOps(DynamoBase):
    def count_outbound(self, status: str) -> int:
        return self.table.count(f"OUTSTATUS#{status}", "GSI4")

    def people_by_tier(self) -> dict[str, int]:
        counts = self.table.get("TIERS", "COUNT") or {}
        return {k.removeprefix("tier:"): int(v) for k, v in counts.items() if k.startswith("tier:") and int(v) > 0}

    def subscriptions_by_status(self) -> dict[tuple[str, str], int]:
        return dict(Counter((s["tier"], s["status"]) for s in self.table.query("SUBS", index="GSI4")))

    def user_ids(self, after: int = 0, limit: int = 500) -> list[int]:
        rows = self.table.query("USERS", index="GSI3", since=pad(after + 1), limit=limit)
        return [int(r["id"]) for r in rows]

    def _people(self, user_ids) -> dict[int, dict]:
        found = self.table.get_many([(user_pk(i), "USER") for i in set(user_ids)])
        return {int(item["id"]): item for item in found.values()}

    def usage_rows(self, period: str, since_key: str) -> list[tuple[int, str, str, str, int, int]]:
        rows = [
            r for key in _keys_from(period, since_key) for r in self.table.query(usage_list(period, key), index="GSI3")
        ]
        people = self._people(int(r["user_id"]) for r in rows)
        out = [
            (
                int(r["user_id"]),
                people[int(r["user_id"])]["tier"],
                people[int(r["user_id"])]["timezone"],
                r["period_key"],
                int(r.get("photos", 0)),
                int(r.get("ai_cost_micro_usd", 0)),
            )
            for r in rows
            if int(r["user_id"]) in people and r["period_key"] >= since_key
        ]
        return sorted(out, key=lambda row: (row[0], row[3]))

    def replies_sent_by_user(self, since: datetime, until: datetime, timezone: str) -> dict[int, int]:
        sent: Counter = Counter()
        for status in DELIVERED:
            for row in self.table.query(f"OUTSTATUS#{status}", index="GSI4", between=(when(since), when(until))):
                if row.get("user_id") is not None and row["created_at"] < when(until):
                    sent[int(row["user_id"])] += 1
        people = self._people(sent)
        return {user_id: n for user_id, n in sent.items() if people.get(user_id, {}).get("timezone") == timezone}
