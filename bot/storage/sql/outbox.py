"""The outbox on SQL (`OutboxStore`): every reply as a row, one per (message, kind), moved between states only
by guarded UPDATEs, so two processes can never both deliver one row."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.storage.records import OutboundRecord, utcnow
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase

QUEUED, TWIML, SENDING, SENT, GAVE_UP = "queued", "twiml", "sending", "sent", "failed"
# answered in a webhook response, unconfirmed: the client may have stopped waiting for it (Twilio does at 15 s), so
# at `next_attempt_at` Twilio is asked whether it has the message, and it is sent by REST if not
ANSWERED = "answered"
DELIVERED = (TWIML, SENT, ANSWERED)  # counted as replies (limits, reports): an unconfirmed one is sent at worst late
CONFIRM_AFTER = timedelta(seconds=60)  # when the caller does not say (BotSettings.twiml_confirm_s)


def confirm_at(confirm_after: datetime | None) -> datetime:
    return confirm_after or utcnow() + CONFIRM_AFTER


def _outbound(row: t.Outbound, unknown_since: datetime | None = None) -> OutboundRecord:
    return OutboundRecord(
        row.id,
        row.message_sid,
        row.kind,
        row.to_addr,
        row.from_addr,
        row.body,
        row.attempts,
        row.user_id,
        row.status,
        unknown_since,
    )


def lease_due(row: t.Outbound, now: datetime, lease_until: datetime) -> OutboundRecord:
    """Lease a row found due for a REST send (in the caller's transaction) to `lease_until`.

    Its fate is unknown when it was `sending`, or `queued` under a lease that expired: whoever held it died,
    perhaps after a webhook response carried it (Twilio logs those too). Twilio is asked from the earliest moment
    it could have gone out."""
    leased = row.status == SENDING or row.lease_until is not None
    unknown = (row.attempt_started_at or row.created_at) if leased else None
    if row.status == ANSWERED:  # Twilio logs a TwiML answer when it gets it: after the row was written
        unknown = row.created_at
    row.status, row.lease_until, row.attempts = SENDING, lease_until, row.attempts + 1
    row.attempt_started_at = unknown or now
    return _outbound(row, unknown)


class SqlOutbox(SqlBase):
    def enqueue_outbound(self, sid, kind, to_addr, from_addr, body, now, lease_until, user_id=None):
        try:
            with self._tx() as s:
                exists = select(t.Outbound.id).where(t.Outbound.message_sid == sid, t.Outbound.kind == kind)
                if s.scalar(exists) is not None:
                    return None
                row = t.Outbound(
                    message_sid=sid,
                    user_id=user_id,
                    kind=kind,
                    to_addr=to_addr,
                    from_addr=from_addr,
                    body=body,
                    status=QUEUED,
                    attempts=0,
                    next_attempt_at=now,
                    lease_until=lease_until,
                    created_at=now,
                )
                s.add(row)
                s.flush()
                return _outbound(row)
        except IntegrityError:
            return None

    def claim_outbound(self, outbound_id: int, now: datetime, lease_until: datetime) -> OutboundRecord | None:
        """Take a `queued` row for a REST send now (whoever leases it); None if it went another way."""
        with self._tx() as s:
            row = s.get(t.Outbound, outbound_id)
            if row is None or row.status != QUEUED:
                return None
            row.status, row.attempts, row.attempt_started_at, row.lease_until = (
                SENDING,
                row.attempts + 1,
                now,
                lease_until,
            )
            return _outbound(row)

    def claim_due_outbound(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboundRecord]:
        """Lease rows due for a REST send: `queued` ones whose time has come and whose lease expired, and `sending`
        ones whose sender died (their lease expired): those come back with `unknown_since`."""
        with self._tx() as s:
            o = t.Outbound
            expired = or_(o.lease_until.is_(None), o.lease_until < now)
            query = (
                select(o)
                .where(
                    or_(and_(o.status.in_((QUEUED, ANSWERED)), o.next_attempt_at <= now), o.status == SENDING), expired
                )
                .order_by(o.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            claimed = [lease_due(row, now, lease_until) for row in s.scalars(query).all()]
            s.flush()
            return claimed

    def mark_outbound(
        self, outbound_id, status, now, twilio_sid=None, error=None, next_attempt_at=None, lease_until=None
    ):
        with self._tx() as s:
            values = {"status": status, "lease_until": lease_until, "twilio_sid": twilio_sid, "last_error": error}
            if next_attempt_at is not None:
                values["next_attempt_at"] = next_attempt_at
            s.execute(update(t.Outbound).where(t.Outbound.id == outbound_id).values(**values))

    def mark_twiml(self, outbound_ids: list[int], confirm_after: datetime | None = None) -> int:
        """The webhook's response carried these rows: those still `queued` are `answered`, to be confirmed at
        Twilio from `confirm_after` on. Returns how many."""
        if not outbound_ids:
            return 0
        with self._tx() as s:
            o = t.Outbound
            values = {"status": ANSWERED, "lease_until": None, "next_attempt_at": confirm_at(confirm_after)}
            return s.execute(update(o).where(o.id.in_(outbound_ids), o.status == QUEUED).values(**values)).rowcount

    def replay_twiml(self, sid: str, confirm_after: datetime | None = None) -> list[str]:
        """Twilio asked again for `sid` (it never got our answer): the bodies to answer with, in order — the rows
        answered in a response before and those still queued (now answered this way, unconfirmed); none sent by
        REST."""
        with self._tx() as s:
            o = t.Outbound
            answered = (QUEUED, TWIML, ANSWERED)
            rows = s.scalars(select(o).where(o.message_sid == sid, o.status.in_(answered)).order_by(o.id)).all()
            for row in rows:
                if row.status != TWIML:  # answered again: confirmed no earlier than this answer's deadline
                    row.status, row.lease_until, row.next_attempt_at = ANSWERED, None, confirm_at(confirm_after)
            return [row.body for row in rows]

    def outbound(self, sid: str | None = None) -> list[dict]:
        with self._tx() as s:
            query = select(t.Outbound).order_by(t.Outbound.id)
            if sid is not None:
                query = query.where(t.Outbound.message_sid == sid)
            columns = ("message_sid", "kind", "to_addr", "from_addr", "body", "status", "attempts", "twilio_sid")
            return [{c: getattr(row, c) for c in columns} for row in s.scalars(query)]

    def twilio_sids(self, to_addr: str, since: datetime) -> set[str]:
        """Twilio SIDs of the replies to `to_addr` sent by REST since `since`: a lookup after a crash skips them."""
        with self._tx() as s:
            o = t.Outbound
            query = select(o.twilio_sid).where(o.to_addr == to_addr, o.created_at >= since, o.twilio_sid.is_not(None))
            return set(s.scalars(query))

    def dead_letters(self, limit: int = 100) -> list[dict]:
        """Replies given up on, newest first, with why (the admin CLI's `dead-letters`)."""
        with self._tx() as s:
            o = t.Outbound
            rows = s.scalars(select(o).where(o.status == GAVE_UP).order_by(o.id.desc()).limit(limit))
            columns = ("id", "message_sid", "user_id", "kind", "attempts", "last_error", "created_at")
            return [{c: getattr(row, c) for c in columns} for row in rows]
