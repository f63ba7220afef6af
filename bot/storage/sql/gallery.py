"""Questions about unknown foods, the labelled crops their answers become, and who sent which stored photo:
`PhotoQuestionStore`, `LabelledCropStore` and `StoredPhotoStore` on SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.storage.records import AnsweredQuestion, ItemRecord, LabelledCrop, PhotoQuestion
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase, ensure_row
from bot.storage.sql.meals import _SUMS, _add_to_day, _meal, _totals

_CROP_FIELDS = tuple(LabelledCrop.__dataclass_fields__)


def _question(row: t.PhotoQuestion) -> PhotoQuestion:
    return PhotoQuestion(
        row.id,
        row.user_id,
        row.message_id,
        row.message_sid,
        row.day,
        row.eaten_at,
        row.photo_index,
        dict(row.photo or {}),
        dict(row.item or {}),
        tuple(row.choices or ()),
        row.asked_at,
        row.created_at,
    )


def _asked(s: Session, user_id: int) -> t.PhotoQuestion | None:
    query = select(t.PhotoQuestion).where(t.PhotoQuestion.user_id == user_id, t.PhotoQuestion.asked_at.is_not(None))
    return s.scalar(query.order_by(t.PhotoQuestion.id).limit(1))


def _add_item(s: Session, question: t.PhotoQuestion, item: ItemRecord) -> t.Meal | None:
    """Add `item` to the question's meal, starting the meal if the photo logged none; None if it was undone."""
    meal = s.scalar(select(t.Meal).where(t.Meal.message_id == question.message_id))
    if meal is not None and meal.deleted_at is not None:
        return None
    if meal is None:
        started = question.meal or {}
        meal = t.Meal(
            user_id=question.user_id,
            message_id=question.message_id,
            day=question.day,
            eaten_at=question.eaten_at,
            source="photo",
            models=started.get("models") or {},
            photos=started.get("photos") or [],
            items=[],
            **{k: 0.0 for k in _SUMS},
        )
        s.add(meal)
        s.flush()
    else:  # out of the day's totals, and back in with the new item
        _add_to_day(s, meal.user_id, meal.day, meal, sign=-1)
    meal.items.append(t.MealItem(**vars(item)))
    s.flush()
    for key in _SUMS:
        setattr(meal, key, sum(getattr(i, key) for i in meal.items))
    s.flush()
    _add_to_day(s, meal.user_id, meal.day, meal, sign=1)
    return meal


class SqlGallery(SqlBase):
    # questions about unknown foods
    def set_photo_questions(self, user_id, message_id, message_sid, day, eaten_at, meal, questions, now):
        with self._tx() as s:
            s.execute(delete(t.PhotoQuestion).where(t.PhotoQuestion.user_id == user_id))
            s.execute(delete(t.Clarification).where(t.Clarification.user_id == user_id))
            rows = [
                t.PhotoQuestion(
                    user_id=user_id,
                    message_id=message_id,
                    message_sid=message_sid,
                    day=day,
                    eaten_at=eaten_at,
                    photo_index=q["photo_index"],
                    photo=q["photo"],
                    item=q["item"],
                    choices=list(q["choices"]),
                    meal=meal,
                    asked_at=now if i == 0 else None,
                    created_at=now,
                )
                for i, q in enumerate(questions)
            ]
            s.add_all(rows)
            s.flush()
            return _question(rows[0]) if rows else None

    def photo_question(self, user_id: int) -> PhotoQuestion | None:
        with self._tx() as s:
            row = _asked(s, user_id)
            return _question(row) if row else None

    def set_question_choices(self, question_id: int, choices: list[dict]) -> None:
        with self._tx() as s:
            s.execute(update(t.PhotoQuestion).where(t.PhotoQuestion.id == question_id).values(choices=list(choices)))

    def answer_photo_question(self, question_id, crop, item, now):
        with self._tx() as s:
            question = s.get(t.PhotoQuestion, question_id)
            if question is None:
                return None
            output = {k: v for k, v in question.item.items() if k != "embedding"}
            s.add(
                t.LabelledCrop(
                    user_id=question.user_id,
                    message_sid=question.message_sid,
                    photo_sha256=(question.photo or {}).get("sha256"),
                    photo=question.photo,
                    box=question.item.get("box"),
                    image=question.item.get("image"),
                    label=crop["label"],
                    ndb=crop.get("ndb"),
                    display_name=crop["display_name"],
                    answer=crop["answer"],
                    how=crop["how"],
                    model_output=output,
                    embedding=crop.get("embedding"),
                    created_at=now,
                )
            )
            meal = _add_item(s, question, item) if item is not None else None
            user_id = question.user_id
            s.delete(question)
            s.flush()
            following = s.scalar(
                select(t.PhotoQuestion).where(t.PhotoQuestion.user_id == user_id).order_by(t.PhotoQuestion.id).limit(1)
            )
            if following is not None:
                following.asked_at = now
                s.flush()
            totals = _totals(s, user_id, meal.day) if meal is not None else None
            return AnsweredQuestion(
                _meal(meal) if meal is not None else None, totals, _question(following) if following else None
            )

    def clear_photo_questions(self, user_id: int) -> int:
        with self._tx() as s:
            return s.execute(delete(t.PhotoQuestion).where(t.PhotoQuestion.user_id == user_id)).rowcount or 0

    # labelled crops
    def labelled_crops(self, user_id: int | None = None, with_embedding: bool = False) -> list[LabelledCrop]:
        with self._tx() as s:
            query = select(t.LabelledCrop).order_by(t.LabelledCrop.id)
            if user_id is not None:
                query = query.where(t.LabelledCrop.user_id == user_id)
            if with_embedding:
                query = query.where(t.LabelledCrop.embedding.is_not(None))
            return [LabelledCrop(*(getattr(row, f) for f in _CROP_FIELDS)) for row in s.scalars(query)]

    # stored photos
    def add_stored_photos(self, user_id: int, photos: list[dict], now: datetime) -> None:
        with self._tx() as s:
            for photo in photos:
                ensure_row(
                    s,
                    t.StoredPhoto,
                    sha256=photo["sha256"],
                    user_id=user_id,
                    content_type=photo["content_type"],
                    bytes=photo["bytes"],
                    created_at=now,
                )

    def stored_photos(self, user_id: int | None = None) -> list[str]:
        with self._tx() as s:
            query = select(t.StoredPhoto.sha256).distinct().order_by(t.StoredPhoto.sha256)
            if user_id is not None:
                query = query.where(t.StoredPhoto.user_id == user_id)
            return list(s.scalars(query))
