"""What the bot learned about each person (`personal_preferences`): `PersonalStore` on SQL."""

from __future__ import annotations

from datetime import datetime

from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase


class SqlPersonal(SqlBase):
    def personal_preferences(self, user_id: int) -> dict:
        with self._tx() as s:
            row = s.get(t.PersonalPreferences, user_id)
            return dict(row.values) if row else {}

    def set_personal_preferences(self, user_id: int, values: dict, now: datetime) -> None:
        with self._tx() as s:
            row = self._row(s, user_id, now)
            row.values, row.updated_at = dict(values), now

    def photo_portions(self, user_id: int) -> dict | None:
        with self._tx() as s:
            row = s.get(t.PersonalPreferences, user_id)
            return dict(row.photo_portions) if row and row.photo_portions else None

    def set_photo_portions(self, user_id: int, portions: dict | None, now: datetime) -> None:
        with self._tx() as s:
            row = self._row(s, user_id, now)
            row.photo_portions, row.updated_at = (dict(portions) if portions else None), now

    def personal_since(self, user_id: int) -> datetime | None:
        with self._tx() as s:
            row = s.get(t.PersonalPreferences, user_id)
            return row.created_at if row else None

    @staticmethod
    def _row(s, user_id: int, now: datetime) -> t.PersonalPreferences:
        row = s.get(t.PersonalPreferences, user_id)
        if row is None:
            row = t.PersonalPreferences(user_id=user_id, values={}, created_at=now)
            s.add(row)
        return row
