"""The coach's part of the SQLAlchemy store: profiles, pending questions, corrections as labelled examples,
export and hard delete. Mixed into `bot.sql_store.SqlStore`, whose transactions and totals it uses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from bot import models as m
from bot.store import PROFILE_FIELDS, Clarification, ItemRecord, MealRecord, ProfileRecord

_SUMS = ("kcal", "protein_g", "fat_g", "carbs_g", "grams")
_ITEM_FIELDS = ("photo_index", "name", "display_name", "grams", "grams_low", "grams_high", "kcal", "protein_g",
                "fat_g", "carbs_g", "confidence")  # fmt: skip


def _profile(user_id: int, row: m.Profile | None) -> ProfileRecord:
    if row is None:
        return ProfileRecord(user_id)
    values = {k: getattr(row, k) for k in PROFILE_FIELDS}
    values["allergens"] = tuple(values["allergens"] or ())
    values["allergy_notes"] = tuple(values["allergy_notes"] or ())
    values["asked"] = dict(values["asked"] or {})
    return ProfileRecord(user_id, **values)


def _item_dict(item: m.MealItem | ItemRecord) -> dict:
    return {k: getattr(item, k) for k in _ITEM_FIELDS}


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


class CoachStoreMixin:
    # profile
    def get_profile(self, user_id: int) -> ProfileRecord:
        with self._tx() as s:
            return _profile(user_id, s.get(m.Profile, user_id))

    def update_profile(self, user_id: int, now: datetime, **values) -> ProfileRecord:
        unknown = set(values) - set(PROFILE_FIELDS)
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        for key in ("allergens", "allergy_notes"):
            if key in values:
                values[key] = list(values[key])
        with self._tx() as s:
            row = s.get(m.Profile, user_id)
            if row is None:
                row = m.Profile(user_id=user_id, allergens=[], allergy_notes=[], allergies_known=False, asked={},
                                updated_at=now)  # fmt: skip
                s.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = now
            s.flush()
            return _profile(user_id, row)

    # pending questions
    def set_clarification(self, user_id: int, kind: str, payload: dict, now: datetime) -> None:
        with self._tx() as s:
            s.execute(delete(m.Clarification).where(m.Clarification.user_id == user_id))
            s.add(m.Clarification(user_id=user_id, kind=kind, payload=payload, created_at=now))

    def get_clarification(self, user_id: int) -> Clarification | None:
        with self._tx() as s:
            row = s.get(m.Clarification, user_id)
            return Clarification(row.kind, row.payload) if row else None

    def clear_clarification(self, user_id: int) -> None:
        with self._tx() as s:
            s.execute(delete(m.Clarification).where(m.Clarification.user_id == user_id))

    # corrections
    @staticmethod
    def _latest(s, user_id: int) -> m.Meal | None:
        query = select(m.Meal).where(m.Meal.user_id == user_id, m.Meal.deleted_at.is_(None))
        return s.scalar(query.order_by(m.Meal.eaten_at.desc(), m.Meal.id.desc()).limit(1))

    def last_meal(self, user_id: int) -> MealRecord | None:
        with self._tx() as s:
            row = self._latest(s, user_id)
            return self._meal_of(row) if row else None

    def correct_last_meal(self, user_id, index, replacement, example, now):
        with self._tx() as s:
            meal = self._latest(s, user_id)
            if meal is None or not 0 <= index < len(meal.items):
                return None
            item = meal.items[index]
            before = ItemRecord(**_item_dict(item))
            photo = None
            if meal.source == "photo" and meal.photos and item.photo_index < len(meal.photos):
                photo = meal.photos[item.photo_index]
            output = {**_item_dict(item), "models": (meal.models or {}).get(str(item.photo_index))}
            s.add(m.LabelledExample(user_id=user_id, meal_id=meal.id, kind=example["kind"], source=meal.source,
                                    photo=photo, model_output=output, corrected=example["corrected"],
                                    created_at=now))  # fmt: skip
            self._add_to_day(s, user_id, meal.day, meal, sign=-1)
            if replacement is None:
                meal.items.remove(item)
            else:
                for key, value in _item_dict(replacement).items():
                    setattr(item, key, value)
            s.flush()
            for key in _SUMS:
                setattr(meal, key, sum(getattr(i, key) for i in meal.items))
            if not meal.items:  # nothing left: the meal goes, as with undo
                meal.deleted_at = now
            else:
                self._add_to_day(s, user_id, meal.day, meal, sign=1)
            s.flush()
            return self._meal_of(meal), before, self._totals(s, user_id, meal.day)

    def labelled_examples(self, user_id: int | None = None) -> list[dict]:
        with self._tx() as s:
            query = select(m.LabelledExample).order_by(m.LabelledExample.id)
            if user_id is not None:
                query = query.where(m.LabelledExample.user_id == user_id)
            columns = ("id", "user_id", "meal_id", "kind", "source", "photo", "model_output", "corrected", "created_at")
            return [{c: _iso(getattr(row, c)) for c in columns} for row in s.scalars(query)]

    # privacy
    def export_user(self, user_id: int) -> dict:
        def rows(s, model, *where) -> list[dict]:
            return [
                {c.key: _iso(getattr(row, c.key)) for c in model.__table__.columns}
                for row in s.scalars(select(model).where(*where))
            ]

        with self._tx() as s:
            sids = select(m.Message.message_sid).where(m.Message.user_id == user_id)
            meals = rows(s, m.Meal, m.Meal.user_id == user_id)
            for meal in meals:
                meal["items"] = rows(s, m.MealItem, m.MealItem.meal_id == meal["id"])
            return {
                "user": rows(s, m.User, m.User.id == user_id)[0] if s.get(m.User, user_id) else None,
                "profile": rows(s, m.Profile, m.Profile.user_id == user_id),
                "messages": rows(s, m.Message, m.Message.user_id == user_id),
                "meals": meals,
                "daily_totals": rows(s, m.DailyTotal, m.DailyTotal.user_id == user_id),
                "usage": rows(s, m.Usage, m.Usage.user_id == user_id),
                "replies_sent": rows(s, m.Outbound, m.Outbound.message_sid.in_(sids)),
                "corrections": rows(s, m.LabelledExample, m.LabelledExample.user_id == user_id),
                "pending_question": rows(s, m.Clarification, m.Clarification.user_id == user_id),
                "events": rows(s, m.Event, m.Event.user_id == user_id),
            }

    def delete_user(self, user_id: int) -> None:
        with self._tx() as s:
            sids = select(m.Message.message_sid).where(m.Message.user_id == user_id)
            meal_ids = select(m.Meal.id).where(m.Meal.user_id == user_id)
            s.execute(delete(m.Outbound).where(m.Outbound.message_sid.in_(sids)))
            s.execute(delete(m.Event).where(m.Event.message_sid.in_(sids)))
            for statement in (
                delete(m.MealItem).where(m.MealItem.meal_id.in_(meal_ids)),
                delete(m.Meal).where(m.Meal.user_id == user_id),
                delete(m.Message).where(m.Message.user_id == user_id),
                delete(m.DailyTotal).where(m.DailyTotal.user_id == user_id),
                delete(m.Usage).where(m.Usage.user_id == user_id),
                delete(m.LabelledExample).where(m.LabelledExample.user_id == user_id),
                delete(m.Clarification).where(m.Clarification.user_id == user_id),
                delete(m.Profile).where(m.Profile.user_id == user_id),
                delete(m.Event).where(m.Event.user_id == user_id),
                delete(m.User).where(m.User.id == user_id),
            ):
                s.execute(statement)

