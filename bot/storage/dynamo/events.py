"""The append-only trace on DynamoDB (`EventStore`): an event of a message is `MSG#<sid>/EV#<id>` (read with the
message, deleted with it), any other `EVENT#<id>/EV`. GSI1 `USER#<id>`/`EV#<id>` finds a person's, GSI4
`EVKIND#<kind>`/`<at>#<id>` the events of a kind for reports."""

from __future__ import annotations

import json
from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.messages import message_pk
from bot.storage.dynamo.table import dumps, pad, parse_when, when
from bot.storage.records import EventRecord


def _event(item: dict) -> EventRecord:
    user_id, meal_id = item.get("user_id"), item.get("meal_id")
    return EventRecord(
        parse_when(item["at"]),
        item["kind"],
        item.get("message_sid"),
        None if user_id is None else int(user_id),
        None if meal_id is None else int(meal_id),
        json.loads(item.get("detail", "{}")),
    )


class DynamoEvents(DynamoBase):
    def add_event(self, kind, now, message_sid=None, user_id=None, meal_id=None, detail=None) -> None:
        event_id = self.table.next_id("event")
        pk, sk = (message_pk(message_sid), f"EV#{pad(event_id)}") if message_sid else (f"EVENT#{event_id}", "EV")
        item = {
            "PK": pk,
            "SK": sk,
            "type": "event",
            "id": event_id,
            "at": when(now),
            "kind": kind,
            "message_sid": message_sid,
            "user_id": user_id,
            "meal_id": meal_id,
            "detail": dumps(detail or {}),
            "GSI4PK": f"EVKIND#{kind}",
            "GSI4SK": f"{when(now)}#{pad(event_id)}",
        }
        if user_id is not None:
            item.update(GSI1PK=f"USER#{user_id}", GSI1SK=f"EV#{pad(event_id)}")
        self.table.put(item)

    def events(self, message_sid: str | None = None) -> list[EventRecord]:
        if message_sid is None:
            rows = sorted(self.table.scan("event"), key=lambda r: int(r["id"]))
        else:
            rows = list(self.table.query(message_pk(message_sid), sk_prefix="EV#"))
        return [_event(r) for r in rows]

    def events_of_kind(self, kinds: tuple[str, ...], since: datetime | None = None) -> list[EventRecord]:
        rows = []
        for kind in dict.fromkeys(kinds):
            found = self.table.query(f"EVKIND#{kind}", index="GSI4", since=when(since) if since else None)
            rows += list(found)
        return [_event(r) for r in sorted(rows, key=lambda r: int(r["id"]))]
