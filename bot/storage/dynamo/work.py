"""What a shared work queue asks of the DynamoDB store (`WorkStore`): claim one named item if the table says it is
due, and list what is overdue from the GSI2 work lists (`DUE#MSG`, `DUE#OUT`). The queue only carries names; the
claims are conditional writes on the item's state, due time and lease as just read, so two takers never both win.
"""

from __future__ import annotations

from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.messages import _message, message_pk
from bot.storage.dynamo.outbox import ANSWERED, QUEUED, SENDING, outbox_pk
from bot.storage.dynamo.table import parse_when, when
from bot.storage.records import PENDING, MessageRecord, OutboundRecord

_TRIES = 3  # a claim refused because another taker changed the item: read it again and answer from that


def _later(*times: str | None) -> datetime | None:
    known = [x for x in times if x is not None]
    return parse_when(max(known)) if known else None


class DynamoWork(DynamoBase):
    def claim_message_if_due(
        self, sid: str, now: datetime, lease_until: datetime
    ) -> tuple[MessageRecord | None, datetime | None]:
        """Lease the `pending` message `sid` if its retry time has come and no live worker holds it: `(message,
        None)`; else `(None, when it will be due)`, `(None, None)` when it is finished or unknown."""
        at, due_at = when(now), None
        for _ in range(_TRIES):
            item = self.table.get(message_pk(sid), "MSG")
            if item is None or item["status"] != PENDING:
                return None, None
            waits, lease = item.get("next_attempt_at"), item.get("lease_until")
            due_at = _later(waits, lease)
            if (lease is not None and lease >= at) or (waits is not None and waits > at):
                return None, due_at
            leased = self._lease(sid, now, lease_until, due_only=True)  # pending, unleased or expired, and due
            if leased is not None:
                return _message(leased), None
        return None, due_at

    def claim_outbound_if_due(
        self, outbound_id: int, now: datetime, lease_until: datetime
    ) -> tuple[OutboundRecord | None, datetime | None]:
        """Lease outbox row `outbound_id` for a REST send if it is due, as `claim_due_outbound` would (a row a dead
        sender left comes with `unknown_since`): `(row, None)`; else `(None, when it will be due)`, `(None, None)`
        when it was delivered, given up on or never existed."""
        at, due_at = when(now), None
        for _ in range(_TRIES):
            item = self.table.get(outbox_pk(outbound_id), "OUT")
            if item is None or item["status"] not in (QUEUED, SENDING, ANSWERED):
                return None, None
            waits = item.get("next_attempt_at") if item["status"] in (QUEUED, ANSWERED) else None
            lease = item.get("lease_until")
            due_at = _later(waits, lease)
            if (lease is not None and lease >= at) or (waits is not None and waits > at):
                return None, due_at
            claimed = self._lease_due(item, now, lease_until)  # refused if its state, lease or attempts changed
            if claimed is not None:
                return claimed, None
        return None, due_at

    def overdue_work(self, before: datetime, limit: int) -> tuple[list[str], list[int]]:
        """What was already due at `before` and no one has taken since: the sids of `pending` messages and the ids of
        outbox rows waiting for a REST send (at most `limit` of each, earliest due first). Nothing is leased; the
        index is eventually consistent, which is enough for a hint: every claim re-reads the item."""
        at = when(before)
        sids = []
        for item in self.table.query("DUE#MSG", index="GSI2", until=at):
            lease = item.get("lease_until")
            if item.get("next_attempt_at", "") <= at and (lease is None or lease < at):
                sids.append(item["sid"])
                if len(sids) >= limit:
                    break
        ids = []
        for item in self.table.query("DUE#OUT", index="GSI2", until=at):
            status, lease = item["status"], item.get("lease_until")
            due = status == SENDING or (status in (QUEUED, ANSWERED) and item.get("next_attempt_at", "") <= at)
            if due and (lease is None or lease < at):
                ids.append(int(item["id"]))
                if len(ids) >= limit:
                    break
        return sids, ids
