"""What the checker of a faults run reads of the bots' store, whichever it is: SQLite's file read-only, or the
DynamoDB table through the adapter's own client (a Scan per item type: a benchmark may, the bot never does)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from fault_check import OUTBOX_UNFINISHED, UNFINISHED, read_db, unfinished
from fault_rig import FAKE_AWS


class SqliteReader:
    def __init__(self, path: Path):
        self.path = path

    def unfinished(self) -> tuple[int, int, int]:
        return unfinished(self.path)

    def read(self) -> dict[str, list]:
        return read_db(self.path)

    def close(self) -> None:
        pass


class DynamoReader:
    """The rows of `fault_check.read_db`, in the same shapes, from a `dynamodb://` store."""

    def __init__(self, url: str):
        from bot.storage.dynamo.store import DynamoStore

        self.store = DynamoStore(url)

    def unfinished(self) -> tuple[int, int, int]:
        """(unfinished messages, unfinished outbox rows, events so far): the status counts the ops indexes keep."""
        s = self.store
        messages = sum(s.count_messages(status) for status in UNFINISHED)
        outbox = sum(s.count_outbound(status) for status in OUTBOX_UNFINISHED)
        last_event = (s.table.get("COUNTER#event", "COUNTER") or {}).get("value", 0)  # the id of the newest event
        return messages, outbox, int(last_event)

    def read(self) -> dict[str, list]:
        table = self.store.table
        messages = [
            (
                int(m["id"]),
                m["sid"],
                m["status"],
                m.get("twiml_reply"),
                m.get("media", "[]") != "[]",
                m.get("attempts", 0),
            )
            for m in table.scan("message")
        ]
        outbound = [
            (int(r["id"]), r["message_sid"], r["kind"], r["to_addr"], r["body"], r["status"], r.get("twilio_sid"))
            for r in table.scan("outbound")
        ]
        meals = Counter(m.get("message_id") for m in table.scan("meal") if "deleted_at" not in m)
        events = [(e.at.isoformat(), e.kind, e.message_sid, e.detail) for e in self.store.events()]
        return {"messages": messages, "outbound": outbound, "meals": list(meals.items()), "events": events}

    def close(self) -> None:
        self.store.dispose()


def reader_for(store_url: str, sqlite_file: Path | None):
    if sqlite_file is not None:
        return SqliteReader(sqlite_file)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    os.environ.update(FAKE_AWS)  # the run's own local server takes any keys: never real ones
    return DynamoReader(store_url)
