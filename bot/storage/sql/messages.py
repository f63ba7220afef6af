"""Inbound messages, their status and retry lease: `MessageStore` on SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.storage.records import FAILED, PENDING, MediaRef, MessageRecord
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase


def _message(row: t.Message) -> MessageRecord:
    media = tuple(MediaRef(x["url"], x["content_type"]) for x in row.media or [])
    return MessageRecord(
        row.id,
        row.message_sid,
        row.user_id,
        row.from_addr,
        row.to_addr,
        row.body,
        media,
        row.photos_reserved,
        row.status,
        row.attempts,
        row.twiml_reply,
        row.created_at,
    )


class SqlMessages(SqlBase):
    def record_inbound(self, sid, user_id, from_addr, to_addr, body, media, status, now, lease_until):
        try:
            with self._tx() as s:
                row = s.scalar(select(t.Message).where(t.Message.message_sid == sid))
                if row is not None:
                    return _message(row), False
                row = t.Message(
                    message_sid=sid,
                    user_id=user_id,
                    from_addr=from_addr,
                    to_addr=to_addr,
                    body=body,
                    media=[{"url": x.url, "content_type": x.content_type} for x in media],
                    photos_reserved=0,
                    status=status,
                    attempts=1 if lease_until else 0,
                    next_attempt_at=now,
                    lease_until=lease_until,
                    created_at=now,
                    updated_at=now,
                )
                s.add(row)
                s.flush()
                return _message(row), True
        except IntegrityError:
            existing = self.get_message(sid)
            if existing is None:
                raise
            return existing, False

    def get_message(self, sid: str) -> MessageRecord | None:
        with self._tx() as s:
            row = s.scalar(select(t.Message).where(t.Message.message_sid == sid))
            return _message(row) if row else None

    def _update_message(self, sid: str, **values) -> None:
        with self._tx() as s:
            s.execute(update(t.Message).where(t.Message.message_sid == sid).values(**values))

    def set_photos_reserved(self, sid: str, photos: int) -> None:
        self._update_message(sid, photos_reserved=photos)

    def set_twiml_reply(self, sid: str, twiml_reply: str) -> None:
        self._update_message(sid, twiml_reply=twiml_reply)

    def finish_message(self, sid: str, status: str, twiml_reply: str | None, now: datetime) -> None:
        values = {"status": status, "lease_until": None, "updated_at": now}
        if twiml_reply is not None:
            values["twiml_reply"] = twiml_reply
        self._update_message(sid, **values)

    def schedule_retry(self, sid: str, error: str, next_attempt_at: datetime, now: datetime) -> None:
        self._update_message(
            sid, status=PENDING, last_error=error, next_attempt_at=next_attempt_at, lease_until=None, updated_at=now
        )

    def claim_due_messages(self, now: datetime, lease_until: datetime, limit: int) -> list[MessageRecord]:
        with self._tx() as s:
            query = (
                select(t.Message)
                .where(t.Message.status == PENDING, t.Message.next_attempt_at <= now)
                .where(or_(t.Message.lease_until.is_(None), t.Message.lease_until < now))
                .order_by(t.Message.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = s.scalars(query).all()
            for row in rows:
                row.lease_until, row.attempts, row.updated_at = lease_until, row.attempts + 1, now
            s.flush()
            return [_message(row) for row in rows]

    def take_over(self, sid: str, now: datetime, lease_until: datetime) -> MessageRecord | None:
        """Lease a `pending` message whose lease expired (its worker died) to the caller; None if it is not."""
        with self._tx() as s:
            row = s.scalar(select(t.Message).where(t.Message.message_sid == sid))
            if row is None or row.status != PENDING or (row.lease_until is not None and row.lease_until >= now):
                return None
            row.lease_until, row.attempts, row.updated_at = lease_until, row.attempts + 1, now
            s.flush()
            return _message(row)

    def failed_messages(self, limit: int = 100) -> list[dict]:
        """Messages given up on after the last retry (the person was told), newest first, with the last error."""
        with self._tx() as s:
            m = t.Message
            rows = s.scalars(select(m).where(m.status == FAILED).order_by(m.id.desc()).limit(limit))
            columns = ("message_sid", "user_id", "attempts", "last_error", "created_at")
            return [{c: getattr(row, c) for c in columns} for row in rows]

    def count_messages(self, status: str) -> int:
        with self._tx() as s:
            return s.scalar(select(func.count()).select_from(t.Message).where(t.Message.status == status))
