"""The outbox on DynamoDB (`OutboxStore`): a reply is `OUTBOX#<id>/OUT`, and `MSG#<sid>/OUT#<kind>` claims its
(message, kind) in the same transaction, so a reply is queued once. Rows move between states only by conditional
updates on the state read, so two processes never both deliver one. Indexes: GSI1 `USER#<id>`/`OUT#<created>#<id>`
(replies sent to a person), GSI2 `DUE#OUT`/<no earlier than due> while queued, sending or answered (to confirm), `DEAD#OUT`/<id> once
given up, GSI3 `TO#<address>`/<created> (Twilio SIDs sent to an address), GSI4 `OUTSTATUS#<status>`/<created>
(counts per status, replies delivered in a period)."""

from __future__ import annotations

from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.messages import message_pk
from bot.storage.dynamo.table import encode, pad, parse_when, when
from bot.storage.records import OutboundRecord
from bot.storage.sql.outbox import ANSWERED, confirm_at

QUEUED, TWIML, SENDING, SENT, GAVE_UP = "queued", "twiml", "sending", "sent", "failed"
DELIVERED = (TWIML, SENT, ANSWERED)  # answered: in a webhook response, unconfirmed (bot.storage.sql.outbox)
_NAMES = {"#status": "status"}


def outbox_pk(outbound_id: int) -> str:
    return f"OUTBOX#{outbound_id}"


def _record(item: dict, unknown_since: datetime | None = None) -> OutboundRecord:
    return OutboundRecord(
        int(item["id"]),
        item["message_sid"],
        item["kind"],
        item["to_addr"],
        item["from_addr"],
        item["body"],
        int(item.get("attempts", 0)),
        int(item["user_id"]) if item.get("user_id") is not None else None,
        item["status"],
        unknown_since,
    )


def _lease_condition(item: dict) -> tuple[str, dict]:
    """A condition that the row's state, lease and attempts (every claim adds one) are still what was read."""
    condition, seen = (
        "#status = :seen AND attempts = :seen_attempts",
        {
            "seen": item["status"],
            "seen_attempts": int(item.get("attempts", 0)),
        },
    )
    if "lease_until" in item:
        return condition + " AND lease_until = :seen_lease", seen | {"seen_lease": item["lease_until"]}
    return condition + " AND attribute_not_exists(lease_until)", seen


class DynamoOutbox(DynamoBase):
    def enqueue_outbound(self, sid, kind, to_addr, from_addr, body, now, lease_until, user_id=None):
        outbound_id = self.table.next_id("outbound")
        item = {
            "PK": outbox_pk(outbound_id),
            "SK": "OUT",
            "type": "outbound",
            "id": outbound_id,
            "message_sid": sid,
            "user_id": user_id,
            "kind": kind,
            "to_addr": to_addr,
            "from_addr": from_addr,
            "body": body,
            "status": QUEUED,
            "attempts": 0,
            "next_attempt_at": when(now),
            "lease_until": when(lease_until),
            "created_at": when(now),
            "GSI2PK": "DUE#OUT",
            "GSI2SK": when(max(now, lease_until) if lease_until else now),
            "GSI3PK": f"TO#{to_addr}",
            "GSI3SK": f"{when(now)}#{pad(outbound_id)}",
            "GSI4PK": f"OUTSTATUS#{QUEUED}",
            "GSI4SK": f"{when(now)}#{pad(outbound_id)}",
        }
        if user_id is not None:
            item.update(GSI1PK=f"USER#{user_id}", GSI1SK=f"OUT#{when(now)}#{pad(outbound_id)}")
        key = {"PK": message_pk(sid), "SK": f"OUT#{kind}", "type": "outbound_key", "outbound_id": outbound_id}
        if self.table.transact(
            [
                {"Put": {"Item": encode(key), "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Put": {"Item": encode(item)}},
            ]
        ):
            return _record(item)
        return None

    def _get(self, outbound_id: int) -> dict | None:
        return self.table.get(outbox_pk(outbound_id), "OUT")

    def claim_outbound(self, outbound_id: int, now: datetime, lease_until: datetime) -> OutboundRecord | None:
        item = self.table.update(
            outbox_pk(outbound_id),
            "OUT",
            "SET #status = :sending, attempt_started_at = :now, lease_until = :lease, GSI2SK = :lease, GSI4PK = :g4 "
            "ADD attempts :one",
            "#status = :queued",
            _NAMES,
            g4=f"OUTSTATUS#{SENDING}",
            sending=SENDING,
            now=when(now),
            lease=when(lease_until),
            one=1,
            queued=QUEUED,
        )
        return _record(item) if item else None

    def claim_due_outbound(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboundRecord]:
        claimed = []
        at = when(now)
        for item in self.table.query("DUE#OUT", index="GSI2", until=at):
            status, lease = item["status"], item.get("lease_until")
            due = status == SENDING or (status in (QUEUED, ANSWERED) and item.get("next_attempt_at", "") <= at)
            if not due or (lease is not None and lease >= at):
                continue
            updated = self._lease_due(item, now, lease_until)
            if updated is not None:
                claimed.append(updated)
                if len(claimed) >= limit:
                    break
        return claimed

    def _lease_due(self, item: dict, now: datetime, lease_until: datetime) -> OutboundRecord | None:
        """Lease row `item`, found due, for a REST send: a conditional update on its state and lease as read (None
        when another process changed them since)."""
        # its fate is unknown when it was sending, or queued under a lease that expired: whoever held it died,
        # perhaps after a webhook response carried it; Twilio is asked from the earliest moment it could have gone
        leased = item["status"] == SENDING or item.get("lease_until") is not None
        unknown = (item.get("attempt_started_at") or item["created_at"]) if leased else None
        if item["status"] == ANSWERED:  # Twilio logs a TwiML answer when it gets it: after the row was written
            unknown = item["created_at"]
        condition, seen = _lease_condition(item)
        updated = self.table.update(
            outbox_pk(int(item["id"])),
            "OUT",
            "SET #status = :sending, lease_until = :lease, attempt_started_at = :started, GSI2SK = :lease, "
            "GSI4PK = :g4 ADD attempts :one",
            condition,
            _NAMES,
            g4=f"OUTSTATUS#{SENDING}",
            sending=SENDING,
            lease=when(lease_until),
            started=unknown or when(now),
            one=1,
            **seen,
        )
        return _record(updated, parse_when(unknown)) if updated is not None else None

    def mark_outbound(
        self, outbound_id, status, now, twilio_sid=None, error=None, next_attempt_at=None, lease_until=None
    ):
        sets, removes = ["#status = :status", "GSI4PK = :g4"], []
        named = {"status": status, "g4": f"OUTSTATUS#{status}"}
        for name, value in (("lease_until", when(lease_until)), ("twilio_sid", twilio_sid), ("last_error", error)):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                named[name] = value
        if next_attempt_at is not None:
            sets.append("next_attempt_at = :next")
            named["next"] = when(next_attempt_at)
        if status in (QUEUED, SENDING):
            # no earlier than it is due (the claim checks exactly): after its lease, and its next attempt if queued
            bounds = [b for b in (when(lease_until), named.get("next") if status == QUEUED else None) if b]
            sets += ["GSI2PK = :gpk", "GSI2SK = :gsk"]
            named.update(gpk="DUE#OUT", gsk=max(bounds) if bounds else when(now))
        elif status == GAVE_UP:
            sets += ["GSI2PK = :gpk", "GSI2SK = :gsk"]
            named.update(gpk="DEAD#OUT", gsk=pad(outbound_id))
        else:
            removes += ["GSI2PK", "GSI2SK"]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        self.table.update(outbox_pk(outbound_id), "OUT", expression, "attribute_exists(PK)", _NAMES, **named)

    def _to_twiml(self, outbound_id: int, confirm_after: datetime | None, seen: str = QUEUED) -> bool:
        """A `queued` row (or an `answered` one, again) answered in a webhook response: `answered`, due for its
        confirmation at `confirm_after`; False when its state is no longer `seen`."""
        due = when(confirm_at(confirm_after))
        done = self.table.update(
            outbox_pk(outbound_id),
            "OUT",
            "SET #status = :answered, GSI4PK = :g4, next_attempt_at = :due, GSI2PK = :gpk, GSI2SK = :due "
            "REMOVE lease_until",
            "#status = :queued",
            _NAMES,
            g4=f"OUTSTATUS#{ANSWERED}",
            answered=ANSWERED,
            due=due,
            gpk="DUE#OUT",
            queued=seen,
        )
        return done is not None

    def mark_twiml(self, outbound_ids: list[int], confirm_after: datetime | None = None) -> int:
        return sum(self._to_twiml(i, confirm_after) for i in dict.fromkeys(outbound_ids))

    def _rows_of(self, sid: str) -> list[dict]:
        ids = sorted(int(k["outbound_id"]) for k in self.table.query(message_pk(sid), sk_prefix="OUT#"))
        return [row for row in map(self._get, ids) if row is not None]

    def replay_twiml(self, sid: str, confirm_after: datetime | None = None) -> list[str]:
        bodies = []
        for row in self._rows_of(sid):
            status = row["status"]
            if status == TWIML or (
                status in (QUEUED, ANSWERED) and self._to_twiml(int(row["id"]), confirm_after, status)
            ):
                bodies.append(row["body"])
        return bodies

    def outbound(self, sid: str | None = None) -> list[dict]:
        rows = self._rows_of(sid) if sid is not None else sorted(self.table.scan("outbound"), key=lambda r: r["id"])
        columns = ("message_sid", "kind", "to_addr", "from_addr", "body", "status", "attempts", "twilio_sid")
        return [{c: row.get(c) for c in columns} for row in rows]

    def twilio_sids(self, to_addr: str, since: datetime) -> set[str]:
        rows = self.table.query(f"TO#{to_addr}", index="GSI3", since=when(since))
        return {row["twilio_sid"] for row in rows if row.get("twilio_sid")}

    def dead_letters(self, limit: int = 100) -> list[dict]:
        rows = self.table.query("DEAD#OUT", index="GSI2", newest_first=True, limit=limit)
        columns = ("id", "message_sid", "user_id", "kind", "attempts", "last_error")
        return [{**{c: row.get(c) for c in columns}, "created_at": parse_when(row["created_at"])} for row in rows]

    def replies_sent(self, user_id: int, since: datetime, until: datetime) -> int:
        rows = self.table.query(f"USER#{user_id}", index="GSI1", between=(f"OUT#{when(since)}", f"OUT#{when(until)}"))
        return sum(1 for r in rows if r["status"] in DELIVERED and r["created_at"] < when(until))
