"""People (users, profiles) and the question pending for each: `PeopleStore` and `PendingQuestionStore` on SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bot.storage.records import PROFILE_FIELDS, Clarification, ProfileRecord, UserRecord, utcnow
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase


def _user(row: t.User) -> UserRecord:
    return UserRecord(row.id, row.phone, row.tier, row.timezone, row.opted_out)


def _profile(user_id: int, row: t.Profile | None) -> ProfileRecord:
    if row is None:
        return ProfileRecord(user_id)
    values = {k: getattr(row, k) for k in PROFILE_FIELDS}
    values["allergens"] = tuple(values["allergens"] or ())
    values["allergy_notes"] = tuple(values["allergy_notes"] or ())
    values["asked"] = dict(values["asked"] or {})
    return ProfileRecord(user_id, **values)


class SqlPeople(SqlBase):
    # users
    def get_or_create_user(self, phone: str, tier: str, timezone: str) -> UserRecord:
        try:
            with self._tx() as s:
                row = s.scalar(select(t.User).where(t.User.phone == phone))
                if row is None:
                    row = t.User(phone=phone, tier=tier, timezone=timezone, opted_out=False, created_at=utcnow())
                    s.add(row)
                    s.flush()
                return _user(row)
        except IntegrityError:  # created concurrently (databases without SQLite's write lock)
            return self.get_or_create_user(phone, tier, timezone)

    def get_user(self, user_id: int) -> UserRecord:
        with self._tx() as s:
            row = s.get(t.User, user_id)
            if row is None:
                raise KeyError(f"no user with id {user_id}")
            return _user(row)

    def set_opted_out(self, user_id: int, opted_out: bool) -> None:
        with self._tx() as s:
            s.execute(update(t.User).where(t.User.id == user_id).values(opted_out=opted_out))

    def set_tier(self, user_id: int, tier: str) -> None:
        with self._tx() as s:
            s.execute(update(t.User).where(t.User.id == user_id).values(tier=tier))

    # profile
    def get_profile(self, user_id: int) -> ProfileRecord:
        with self._tx() as s:
            return _profile(user_id, s.get(t.Profile, user_id))

    def update_profile(self, user_id: int, now: datetime, **values) -> ProfileRecord:
        unknown = set(values) - set(PROFILE_FIELDS)
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        for key in ("allergens", "allergy_notes"):
            if key in values:
                values[key] = list(values[key])
        with self._tx() as s:
            row = s.get(t.Profile, user_id)
            if row is None:
                row = t.Profile(
                    user_id=user_id, allergens=[], allergy_notes=[], allergies_known=False, asked={}, updated_at=now
                )
                s.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = now
            s.flush()
            return _profile(user_id, row)


class SqlPendingQuestions(SqlBase):
    def set_clarification(self, user_id: int, kind: str, payload: dict, now: datetime) -> None:
        with self._tx() as s:
            s.execute(delete(t.Clarification).where(t.Clarification.user_id == user_id))
            s.add(t.Clarification(user_id=user_id, kind=kind, payload=payload, created_at=now))

    def get_clarification(self, user_id: int) -> Clarification | None:
        with self._tx() as s:
            row = s.get(t.Clarification, user_id)
            return Clarification(row.kind, row.payload) if row else None

    def clear_clarification(self, user_id: int) -> None:
        with self._tx() as s:
            s.execute(delete(t.Clarification).where(t.Clarification.user_id == user_id))
