"""Inbound messages, their status and retry lease: `MessageStore` on DynamoDB.

A message is `MSG#<sid>/MSG`: the conditional put on that key is the MessageSid idempotency. Its partition also
holds its outbox keys (`OUT#<kind>`) and its events (`EV#<id>`). Indexes: GSI1 `USER#<id>`/`MSG#<created>#<id>` (the
person's messages), GSI2 `DUE#MSG`/<when due> while `pending` (the retry worker) or `DEAD#MSG`/<id> once `failed`,
GSI3 `MSGSTATUS#<status>`/<id> (counts per status).
"""

from __future__ import annotations

import json
from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.table import dumps, pad, parse_when, when
from bot.storage.records import FAILED, PENDING, MediaRef, MessageRecord

# who may take a message: pending, and unleased or under an expired lease
_TAKEABLE = "#status = :pending AND (attribute_not_exists(lease_until) OR lease_until < :now)"


def message_pk(sid: str) -> str:
    return f"MSG#{sid}"


def _message(item: dict) -> MessageRecord:
    media = tuple(MediaRef(x["url"], x["content_type"]) for x in json.loads(item.get("media", "[]")))
    return MessageRecord(
        int(item["id"]),
        item["sid"],
        int(item["user_id"]),
        item["from_addr"],
        item["to_addr"],
        item.get("body", ""),
        media,
        int(item.get("photos_reserved", 0)),
        item["status"],
        int(item.get("attempts", 0)),
        item.get("twiml_reply"),
        parse_when(item["created_at"]),
    )


def _lists(status: str, message_id: int, due: str | None) -> dict:
    """The index keys of a message in `status`: its work list (due or dead) and its status list."""
    keys = {"GSI3PK": f"MSGSTATUS#{status}", "GSI3SK": pad(message_id)}
    if status == PENDING:
        keys.update(GSI2PK="DUE#MSG", GSI2SK=due)
    elif status == FAILED:
        keys.update(GSI2PK="DEAD#MSG", GSI2SK=pad(message_id))
    return keys


class DynamoMessages(DynamoBase):
    def record_inbound(self, sid, user_id, from_addr, to_addr, body, media, status, now, lease_until):
        existing = self.table.get(message_pk(sid), "MSG")
        if existing is not None:
            return _message(existing), False
        message_id = self.table.next_id("message")
        due = when(max(now, lease_until) if lease_until else now)
        item = {
            "PK": message_pk(sid),
            "SK": "MSG",
            "type": "message",
            "id": message_id,
            "sid": sid,
            "user_id": user_id,
            "from_addr": from_addr,
            "to_addr": to_addr,
            "body": body,
            "media": dumps([{"url": x.url, "content_type": x.content_type} for x in media]),
            "photos_reserved": 0,
            "status": status,
            "attempts": 1 if lease_until else 0,
            "next_attempt_at": when(now),
            "lease_until": when(lease_until),
            "created_at": when(now),
            "updated_at": when(now),
            "GSI1PK": f"USER#{user_id}",
            "GSI1SK": f"MSG#{when(now)}#{pad(message_id)}",  # newest first by time, as `last_inbound` reads
            **_lists(status, message_id, due),
        }
        if self.table.put(item, "attribute_not_exists(PK)"):
            return _message(item), True
        existing = self.table.get(message_pk(sid), "MSG")  # a racing request inserted it first
        if existing is None:
            raise RuntimeError(f"message {sid} was refused as a duplicate but is not there")
        return _message(existing), False

    def get_message(self, sid: str) -> MessageRecord | None:
        item = self.table.get(message_pk(sid), "MSG")
        return _message(item) if item else None

    def _update_message(self, sid: str, expression: str, **named) -> dict | None:
        return self.table.update(message_pk(sid), "MSG", expression, "attribute_exists(PK)", **named)

    def set_photos_reserved(self, sid: str, photos: int) -> None:
        self._update_message(sid, "SET photos_reserved = :p", p=photos)

    def set_twiml_reply(self, sid: str, twiml_reply: str) -> None:
        self._update_message(sid, "SET twiml_reply = :r", r=twiml_reply)

    def _set_status(self, sid: str, status: str, sets: list[str], removes: list[str], **named) -> None:
        """Move the message to `status`, with its index keys (its id is needed for them: read, then write)."""
        item = self.table.get(message_pk(sid), "MSG")
        if item is None:
            return
        keys = _lists(status, int(item["id"]), named.pop("due", None))
        sets = ["#status = :status", *sets, *(f"{k} = :{k}" for k in keys if keys[k] is not None)]
        removes = [*removes, *(k for k in ("GSI2PK", "GSI2SK") if k not in keys)]
        if status == PENDING and keys["GSI2SK"] is None:  # due when its next attempt is: copy that attribute
            sets.append("GSI2SK = next_attempt_at")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        named.update({k: v for k, v in keys.items() if v is not None}, status=status)
        self.table.update(message_pk(sid), "MSG", expression, "attribute_exists(PK)", {"#status": "status"}, **named)

    def finish_message(self, sid: str, status: str, twiml_reply: str | None, now: datetime) -> None:
        def write():
            sets = ["updated_at = :now"] + (["twiml_reply = :twiml"] if twiml_reply is not None else [])
            named = {"twiml": twiml_reply} if twiml_reply is not None else {}
            self._set_status(sid, status, sets, ["lease_until"], now=when(now), **named)

        self._commit_point(write)

    def schedule_retry(self, sid: str, error: str, next_attempt_at: datetime, now: datetime) -> None:
        def write():
            sets = ["last_error = :error", "next_attempt_at = :next", "updated_at = :now"]
            at = when(next_attempt_at)
            self._set_status(sid, PENDING, sets, ["lease_until"], error=error, next=at, now=when(now), due=at)

        self._commit_point(write)

    def _lease(self, sid: str, now: datetime, lease_until: datetime, due_only: bool = False) -> dict | None:
        """Lease a takeable message (a conditional update: two workers never both get it)."""
        return self.table.update(
            message_pk(sid),
            "MSG",
            "SET lease_until = :lease, updated_at = :now, GSI2SK = :lease ADD attempts :one",
            _TAKEABLE + (" AND next_attempt_at <= :now" if due_only else ""),
            {"#status": "status"},
            lease=when(lease_until),
            now=when(now),
            one=1,
            pending=PENDING,
        )

    def claim_due_messages(self, now: datetime, lease_until: datetime, limit: int) -> list[MessageRecord]:
        claimed = []
        for item in self.table.query("DUE#MSG", index="GSI2", until=when(now)):
            if item.get("next_attempt_at", "") > when(now):
                continue
            leased = self._lease(item["sid"], now, lease_until, due_only=True)
            if leased is not None:
                claimed.append(_message(leased))
                if len(claimed) >= limit:
                    break
        return claimed

    def take_over(self, sid: str, now: datetime, lease_until: datetime) -> MessageRecord | None:
        leased = self._lease(sid, now, lease_until)
        return _message(leased) if leased else None

    def failed_messages(self, limit: int = 100) -> list[dict]:
        rows = self.table.query("DEAD#MSG", index="GSI2", newest_first=True, limit=limit)
        return [
            {
                "message_sid": r["sid"],
                "user_id": int(r["user_id"]),
                "attempts": int(r.get("attempts", 0)),
                "last_error": r.get("last_error"),
                "created_at": parse_when(r["created_at"]),
            }
            for r in rows
        ]

    def count_messages(self, status: str) -> int:
        return self.table.count(f"MSGSTATUS#{status}", "GSI3")

    def last_address(self, user_id: int) -> tuple[str, str] | None:
        for item in self.table.query(f"USER#{user_id}", sk_prefix="MSG#", index="GSI1", newest_first=True, limit=1):
            return item["from_addr"], item["to_addr"]
        return None
