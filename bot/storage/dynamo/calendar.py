"""Each person's calendar settings and what the calendar wing reads of the rest: the rest of `CalendarStore` on
DynamoDB (the jobs are `bot.storage.dynamo.jobs`).

* the settings: `USER#<id>/CALENDAR` (zone source, feed token hash and generation, Google connection, the
  refresh token encrypted as the wing gives it); written only while the person exists (a transaction with a
  ConditionCheck on `USER#<id>/USER`), so a change racing a delete brings nothing back;
* the feed token: `FEED#<sha256>/FEED` names its owner, put (under `attribute_not_exists`: one owner per token)
  and the previous one deleted in the transaction that changes the settings, so a revoked link is refused at once;
* the Google calendar made for the person: set only where none is (`if_not_exists`), so two processes that each
  made one keep the first, and each learns which from the record returned;
* people connected to Google: GSI3 `GOOGLE#connected`/<id>, set while `google_status` is `connected`;
* the latest message: GSI1 `USER#<id>`, whose message keys sort by creation time (`MSG#<created>#<id>`);
* plans made or changed since a time: GSI4 `PLANS`/<updated_at>, written with every plan change
  (`bot.storage.dynamo.plans`).
"""

from __future__ import annotations

from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.people import _user, user_pk
from bot.storage.dynamo.plans import _plan
from bot.storage.dynamo.table import encode, pad, parse_when, values, when
from bot.storage.records import CalendarPersonRecord, LastInbound, PlanRecord, UserRecord

CONNECTED = "connected"
_GOOGLE = frozenset({"google_refresh_token", "google_calendar_id", "google_status", "google_synced_plan"})


def _person(user_id: int, item: dict | None) -> CalendarPersonRecord:
    if item is None:
        return CalendarPersonRecord(user_id)
    return CalendarPersonRecord(
        user_id,
        item.get("zone_source"),
        item.get("feed_token_sha256"),
        int(item.get("feed_generation", 0)),
        item.get("synced_plan"),
        item.get("google_refresh_token"),
        item.get("google_calendar_id"),
        item.get("google_status"),
        item.get("google_synced_plan"),
    )


def _value(name: str) -> str:
    # a calendar id is set only where none is: of two processes that each made one, the first is kept
    return f"if_not_exists(#{name}, :{name})" if name == "google_calendar_id" else f":{name}"


def _settings_update(user_id: int, now: datetime, changes: dict, condition: str | None = None, **seen) -> dict:
    """An Update of the person's settings item (made on first use) for a transaction: `changes` (None removes)."""
    changes = {"type": "calendar_person", "user_id": user_id, "updated_at": when(now), **changes}
    sets = [f"#{k} = {_value(k)}" for k, v in changes.items() if v is not None]
    if "feed_generation" not in changes:
        sets.append("#feed_generation = if_not_exists(#feed_generation, :zero)")
    removes = [f"#{k}" for k, v in changes.items() if v is None]
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    names = {f"#{k}": k for k in [*changes, "feed_generation"]}
    named = {k: v for k, v in changes.items() if v is not None} | seen
    if "feed_generation" not in changes:
        named["zero"] = 0
    update = {
        "Key": encode({"PK": user_pk(user_id), "SK": "CALENDAR"}),
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values(**named),
    }
    if condition:
        update["ConditionExpression"] = condition
    return {"Update": update}


def _person_exists(user_id: int) -> dict:
    check = {"Key": encode({"PK": user_pk(user_id), "SK": "USER"}), "ConditionExpression": "attribute_exists(PK)"}
    return {"ConditionCheck": check}


class DynamoCalendar(DynamoBase):
    def _settings(self, user_id: int) -> dict | None:
        return self.table.get(user_pk(user_id), "CALENDAR")

    def _change(self, user_id: int, ops: list[dict]) -> int | None:
        """Run the settings' `ops` while the person exists; the index of a refused op after the check, or None."""
        refused = self.table.refused([_person_exists(user_id), *ops])
        if refused == 0:
            raise KeyError(f"no user with id {user_id}")
        return None if refused is None else refused - 1

    def set_timezone(self, user_id: int, timezone: str, source: str, now: datetime) -> UserRecord:
        zone = {
            "Update": {
                "Key": encode({"PK": user_pk(user_id), "SK": "USER"}),
                "UpdateExpression": "SET #timezone = :timezone",
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeNames": {"#timezone": "timezone"},
                "ExpressionAttributeValues": values(timezone=timezone),
            }
        }
        if not self.table.transact([zone, _settings_update(user_id, now, {"zone_source": source})]):
            raise KeyError(f"no user with id {user_id}")
        item = self.table.get(user_pk(user_id), "USER")
        if item is None:
            raise KeyError(f"no user with id {user_id}")
        return _user(item)

    def calendar_person(self, user_id: int) -> CalendarPersonRecord:
        return _person(user_id, self._settings(user_id))

    def set_feed(self, user_id: int, token_sha256: str | None, now: datetime, **changes) -> CalendarPersonRecord:
        if set(changes) - {"synced_plan"}:
            raise ValueError(f"set_feed takes only synced_plan besides the token, not {sorted(changes)}")
        for _ in range(8):
            item = self._settings(user_id) or {}
            old, generation = item.get("feed_token_sha256"), int(item.get("feed_generation", 0))
            if token_sha256 is None and old is not None:
                generation += 1  # the next link is a new one
            if old is None:
                condition, seen = "attribute_not_exists(feed_token_sha256)", {}
            else:
                condition, seen = "feed_token_sha256 = :seen_token", {"seen_token": old}
            settings = {"feed_token_sha256": token_sha256, "feed_generation": generation, **changes}
            ops = [_settings_update(user_id, now, settings, condition, **seen)]
            if old is not None and old != token_sha256:
                ops.append({"Delete": {"Key": encode({"PK": f"FEED#{old}", "SK": "FEED"})}})
            if token_sha256 is not None and token_sha256 != old:
                owner = {"PK": f"FEED#{token_sha256}", "SK": "FEED", "type": "feed_token", "user_id": user_id}
                ops.append({"Put": {"Item": encode(owner), "ConditionExpression": "attribute_not_exists(PK)"}})
            refused = self._change(user_id, ops)
            if refused is None:
                return self.calendar_person(user_id)
            if refused == len(ops) - 1 and token_sha256 is not None and token_sha256 != old:
                raise ValueError(f"feed token {token_sha256[:8]}… is another person's")
            # the token changed meanwhile (another request of theirs): read it again
        raise RuntimeError(f"could not set the calendar feed of user {user_id}: it kept changing")

    def feed_synced(self, user_id: int, token_sha256: str, synced_plan: str, now: datetime) -> bool:
        done = self.table.update(
            user_pk(user_id),
            "CALENDAR",
            "SET synced_plan = :plan, updated_at = :now",
            "feed_token_sha256 = :token",
            plan=synced_plan,
            now=when(now),
            token=token_sha256,
        )
        return done is not None

    def set_google(self, user_id: int, now: datetime, **changes) -> CalendarPersonRecord:
        if set(changes) - _GOOGLE:
            raise ValueError(f"set_google takes {sorted(_GOOGLE)}, not {sorted(set(changes) - _GOOGLE)}")
        if "google_status" in changes:  # the list of people connected, for the sync
            connected = changes["google_status"] == CONNECTED
            changes["GSI3PK"] = "GOOGLE#connected" if connected else None
            changes["GSI3SK"] = pad(user_id) if connected else None
        self._change(user_id, [_settings_update(user_id, now, changes)])
        return self.calendar_person(user_id)

    def google_connected(self) -> list[int]:
        rows = self.table.query("GOOGLE#connected", index="GSI3")
        return [int(r["user_id"]) for r in rows if r.get("google_status") == CONNECTED]

    def feed_owner(self, token_sha256: str) -> int | None:
        item = self.table.get(f"FEED#{token_sha256}", "FEED")
        return int(item["user_id"]) if item else None

    def last_inbound(self, user_id: int) -> LastInbound | None:
        for item in self.table.query(f"USER#{user_id}", sk_prefix="MSG#", index="GSI1", newest_first=True, limit=1):
            return LastInbound(item["from_addr"], item["to_addr"], parse_when(item["created_at"]))
        return None

    def plans_changed_since(self, since: datetime) -> list[PlanRecord]:
        after = when(since)
        rows = [r for r in self.table.query("PLANS", index="GSI4", since=after) if r["updated_at"] > after]
        return [_plan(r) for r in sorted(rows, key=lambda r: (r["updated_at"], int(r["id"])))]
