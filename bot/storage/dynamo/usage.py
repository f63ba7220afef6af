"""The usage ledger's counters: `UsageStore` on DynamoDB. A bucket is `USER#<id>/USAGE#<period>#<key>`, changed
only by UpdateItem ADD (never read-modify-write), all buckets of one call in one TransactWriteItems; a limit is a
ConditionExpression on the counter, so concurrent consumers never pass it. Hour buckets expire by TTL after two
days; day and month buckets are listed per day and month on GSI3 (`USAGEDAY#<day>`, `USAGEMONTH#<month>`)
for the admin's over-cap report and the cost gauges."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import date, timedelta

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.people import user_pk
from bot.storage.dynamo.table import TTL_ATTRIBUTE, encode, pad, values
from bot.storage.records import Bucket, utcnow
from bot.storage.sql.usage import _COUNTERS as COUNTERS

HOUR_BUCKET_TTL_S = 2 * 24 * 3600


def usage_list(period: str, key: str) -> str:
    """The GSI3 partition listing everyone's `period` bucket `key`."""
    return f"USAGE{period.upper()}#{key}"


def _op(user_id: int, bucket: Bucket, amounts: dict[str, int], limit_on: str | None = None) -> dict:
    names = {"#type": "type", "#period": "period"}
    named = {"type": "usage", "user_id": user_id, "period": bucket.period, "key": bucket.key}
    sets = ["#type = :type", "user_id = :user_id", "#period = :period", "period_key = :key"]
    if bucket.period == "hour":
        names[f"#{TTL_ATTRIBUTE}"] = TTL_ATTRIBUTE
        sets.append(f"#{TTL_ATTRIBUTE} = if_not_exists(#{TTL_ATTRIBUTE}, :expires)")
        named["expires"] = int(time.time()) + HOUR_BUCKET_TTL_S
    if bucket.period in ("day", "month"):  # listed per day and per month: the over-cap report, the cost gauges
        sets += ["GSI3PK = :gpk", "GSI3SK = :gsk"]
        named.update(gpk=usage_list(bucket.period, bucket.key), gsk=pad(user_id))
    adds = []
    for i, (counter, amount) in enumerate(amounts.items()):
        names[f"#c{i}"] = counter
        named[f"a{i}"] = int(amount)
        adds.append(f"#c{i} :a{i}")
    op = {
        "Key": encode({"PK": user_pk(user_id), "SK": f"USAGE#{bucket.period}#{bucket.key}"}),
        "UpdateExpression": "SET " + ", ".join(sets) + " ADD " + ", ".join(adds),
        "ExpressionAttributeNames": names,
    }
    if limit_on is not None and bucket.limit is not None:
        # no arithmetic in conditions: "counter + amount <= limit" is "counter <= limit - amount"
        named.update(most=bucket.limit - int(amounts[limit_on]), zero=0)
        op["ConditionExpression"] = "(attribute_not_exists(#c0) AND :zero <= :most) OR #c0 <= :most"
    op["ExpressionAttributeValues"] = values(**named)
    return {"Update": op}


def _counters(row: dict | None) -> dict[str, int]:
    return {k: int((row or {}).get(k, 0)) for k in COUNTERS}


class DynamoUsage(DynamoBase):
    def consume(self, user_id: int, buckets: list[Bucket], counter: str, amount: int) -> Bucket | None:
        if counter not in COUNTERS:
            raise ValueError(f"not a usage counter: {counter!r}; known: {COUNTERS}")
        if not buckets:
            return None
        refused = self.table.refused([_op(user_id, b, {counter: amount}, limit_on=counter) for b in buckets])
        return None if refused is None else buckets[refused]

    def add_usage(self, user_id: int, buckets: list[Bucket], amounts: dict[str, int]) -> None:
        unknown = set(amounts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"not usage counters: {sorted(unknown)}")
        if buckets and amounts:
            self.table.refused([_op(user_id, b, amounts) for b in buckets])

    def usage(self, user_id: int, period: str, key: str) -> dict[str, int]:
        return _counters(self.table.get(user_pk(user_id), f"USAGE#{period}#{key}"))

    def usages(self, user_id: int, period: str, keys: Collection[str]) -> dict[str, dict[str, int]]:
        wanted = {key: (user_pk(user_id), f"USAGE#{period}#{key}") for key in keys}
        rows = self.table.get_many(list(wanted.values()))  # one BatchGetItem
        return {key: _counters(rows.get(item_key)) for key, item_key in wanted.items()}

    def day_usage_keys(self, since_key: str) -> list[tuple[int, str]]:
        """Every (user, day) from `since_key` to tomorrow (the furthest time zone), one GSI3 partition per day."""
        try:
            day = date.fromisoformat(since_key)
        except ValueError as error:
            raise ValueError(f"a day key is YYYY-MM-DD, not {since_key!r}") from error
        last = utcnow().date() + timedelta(days=1)
        found = []
        while day <= last:
            key = day.isoformat()
            found += [(int(r["user_id"]), key) for r in self.table.query(usage_list("day", key), index="GSI3")]
            day += timedelta(days=1)
        return sorted(found)
