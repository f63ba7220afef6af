"""Replies sent with the REST API: `OutboxStore` on SQL, one row per (message, kind)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.storage.records import OutboundRecord
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase


def _outbound(row: t.Outbound) -> OutboundRecord:
    return OutboundRecord(row.id, row.message_sid, row.kind, row.to_addr, row.from_addr, row.body, row.attempts)


class SqlOutbox(SqlBase):
    def enqueue_outbound(self, sid, kind, to_addr, from_addr, body, now, lease_until):
        try:
            with self._tx() as s:
                exists = select(t.Outbound.id).where(t.Outbound.message_sid == sid, t.Outbound.kind == kind)
                if s.scalar(exists) is not None:
                    return None
                row = t.Outbound(
                    message_sid=sid,
                    kind=kind,
                    to_addr=to_addr,
                    from_addr=from_addr,
                    body=body,
                    status="queued",
                    attempts=1,
                    next_attempt_at=now,
                    lease_until=lease_until,
                    created_at=now,
                )
                s.add(row)
                s.flush()
                return _outbound(row)
        except IntegrityError:
            return None

    def claim_due_outbound(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboundRecord]:
        with self._tx() as s:
            o = t.Outbound
            query = (
                select(o)
                .where(o.status == "queued", o.next_attempt_at <= now)
                .where(or_(o.lease_until.is_(None), o.lease_until < now))
                .order_by(o.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = s.scalars(query).all()
            for row in rows:
                row.lease_until, row.attempts = lease_until, row.attempts + 1
            s.flush()
            return [_outbound(row) for row in rows]

    def mark_outbound(self, outbound_id, status, now, twilio_sid=None, error=None, next_attempt_at=None):
        with self._tx() as s:
            values = {"status": status, "lease_until": None, "twilio_sid": twilio_sid, "last_error": error}
            if next_attempt_at is not None:
                values["next_attempt_at"] = next_attempt_at
            s.execute(update(t.Outbound).where(t.Outbound.id == outbound_id).values(**values))

    def outbound(self, sid: str | None = None) -> list[dict]:
        with self._tx() as s:
            query = select(t.Outbound).order_by(t.Outbound.id)
            if sid is not None:
                query = query.where(t.Outbound.message_sid == sid)
            columns = ("message_sid", "kind", "to_addr", "from_addr", "body", "status", "attempts", "twilio_sid")
            return [{c: getattr(row, c) for c in columns} for row in s.scalars(query)]
