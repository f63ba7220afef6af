"""The append-only trace: `EventStore` on SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.storage.records import EventRecord
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase


class SqlEvents(SqlBase):
    def add_event(self, kind, now, message_sid=None, user_id=None, meal_id=None, detail=None) -> None:
        with self._tx() as s:
            s.add(
                t.Event(
                    at=now, kind=kind, message_sid=message_sid, user_id=user_id, meal_id=meal_id, detail=detail or {}
                )
            )

    def events(self, message_sid: str | None = None) -> list[EventRecord]:
        with self._tx() as s:
            query = select(t.Event).order_by(t.Event.id)
            if message_sid is not None:
                query = query.where(t.Event.message_sid == message_sid)
            return [EventRecord(e.at, e.kind, e.message_sid, e.user_id, e.meal_id, e.detail) for e in s.scalars(query)]

    def events_of_kind(self, kinds: tuple[str, ...], since: datetime | None = None) -> list[EventRecord]:
        with self._tx() as s:
            query = select(t.Event).where(t.Event.kind.in_(kinds)).order_by(t.Event.id)
            if since is not None:
                query = query.where(t.Event.at >= since)
            return [EventRecord(e.at, e.kind, e.message_sid, e.user_id, e.meal_id, e.detail) for e in s.scalars(query)]
