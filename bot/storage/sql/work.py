"""What a shared work queue asks of the SQL store (`WorkStore`): claim one named item if the database says it is
due, and list what is overdue. The queue only carries names; these guarded claims decide who does the work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select

from bot.storage.records import PENDING, MessageRecord, OutboundRecord
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase
from bot.storage.sql.messages import _message
from bot.storage.sql.outbox import ANSWERED, QUEUED, SENDING, lease_due


def _later(*times: datetime | None) -> datetime | None:
    known = [x for x in times if x is not None]
    return max(known) if known else None


class SqlWork(SqlBase):
    def claim_message_if_due(
        self, sid: str, now: datetime, lease_until: datetime
    ) -> tuple[MessageRecord | None, datetime | None]:
        """Lease the `pending` message `sid` if its retry time has come and no live worker holds it, as
        `claim_due_messages` would: `(message, None)`; else `(None, when it will be due)`, `(None, None)` when it is
        finished or unknown."""
        with self._tx() as s:
            row = s.scalar(select(t.Message).where(t.Message.message_sid == sid))
            if row is None or row.status != PENDING:
                return None, None
            due_at = _later(row.next_attempt_at, row.lease_until)
            held = row.lease_until is not None and row.lease_until >= now
            if held or (row.next_attempt_at is not None and row.next_attempt_at > now):
                return None, due_at
            row.lease_until, row.attempts, row.updated_at = lease_until, row.attempts + 1, now
            s.flush()
            return _message(row), None

    def claim_outbound_if_due(
        self, outbound_id: int, now: datetime, lease_until: datetime
    ) -> tuple[OutboundRecord | None, datetime | None]:
        """Lease outbox row `outbound_id` for a REST send if it is due, as `claim_due_outbound` would (a row a dead
        sender left comes with `unknown_since`): `(row, None)`; else `(None, when it will be due)`, `(None, None)`
        when it was delivered, given up on or never existed."""
        with self._tx() as s:
            row = s.get(t.Outbound, outbound_id)
            if row is None or row.status not in (QUEUED, SENDING, ANSWERED):
                return None, None
            waits = row.next_attempt_at if row.status in (QUEUED, ANSWERED) else None
            held = row.lease_until is not None and row.lease_until >= now
            if held or (waits is not None and waits > now):
                return None, _later(waits, row.lease_until)
            claimed = lease_due(row, now, lease_until)
            s.flush()
            return claimed, None

    def overdue_work(self, before: datetime, limit: int) -> tuple[list[str], list[int]]:
        """What was already due at `before` and no one has taken since: the sids of `pending` messages and the ids of
        outbox rows waiting for a REST send (oldest first, at most `limit` of each). Nothing is leased."""
        with self._tx() as s:
            m, o = t.Message, t.Outbound
            sids = s.scalars(
                select(m.message_sid)
                .where(m.status == PENDING, m.next_attempt_at <= before)
                .where(or_(m.lease_until.is_(None), m.lease_until < before))
                .order_by(m.next_attempt_at)
                .limit(limit)
            ).all()
            ids = s.scalars(
                select(o.id)
                .where(or_(and_(o.status.in_((QUEUED, ANSWERED)), o.next_attempt_at <= before), o.status == SENDING))
                .where(or_(o.lease_until.is_(None), o.lease_until < before))
                .order_by(o.next_attempt_at)
                .limit(limit)
            ).all()
            return list(sids), list(ids)
