"""Export and hard delete of everything about one person: `PrivacyStore` on SQL (it touches every table)."""

from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import delete, or_, select

from bot.storage.records import DeletedUser, utcnow
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase, iso


def _ready(value):
    if isinstance(value, bytes):  # a crop embedding
        return base64.b64encode(value).decode()
    return iso(value)


def _cancel_at_stripe(s, user_id: int, now: datetime) -> None:
    """A live Stripe subscription of a deleted person is queued for cancellation at Stripe (the billing worker does
    it): only its id stays with us until then, nothing that names the person."""
    sub = s.get(t.Subscription, user_id)
    live = sub is not None and sub.stripe_subscription_id and sub.status not in ("canceled", "incomplete_expired")
    if live and s.get(t.StripeCancellation, sub.stripe_subscription_id) is None:
        subscription_id = sub.stripe_subscription_id
        s.add(t.StripeCancellation(stripe_subscription_id=subscription_id, created_at=now, next_attempt_at=now))


class SqlPrivacy(SqlBase):
    def export_user(self, user_id: int) -> dict:
        def rows(s, model, *where) -> list[dict]:
            return [
                {c.key: _ready(getattr(row, c.key)) for c in model.__table__.columns}
                for row in s.scalars(select(model).where(*where))
            ]

        with self._tx() as s:
            sids = select(t.Message.message_sid).where(t.Message.user_id == user_id)
            theirs = or_(t.Outbound.message_sid.in_(sids), t.Outbound.user_id == user_id)  # billing notices: no message
            meals = rows(s, t.Meal, t.Meal.user_id == user_id)
            for meal in meals:
                meal["items"] = rows(s, t.MealItem, t.MealItem.meal_id == meal["id"])
            return {
                "user": rows(s, t.User, t.User.id == user_id)[0] if s.get(t.User, user_id) else None,
                "profile": rows(s, t.Profile, t.Profile.user_id == user_id),
                "messages": rows(s, t.Message, t.Message.user_id == user_id),
                "meals": meals,
                "daily_totals": rows(s, t.DailyTotal, t.DailyTotal.user_id == user_id),
                "usage": rows(s, t.Usage, t.Usage.user_id == user_id),
                "replies_sent": rows(s, t.Outbound, theirs),
                "corrections": rows(s, t.LabelledExample, t.LabelledExample.user_id == user_id),
                "pending_question": rows(s, t.Clarification, t.Clarification.user_id == user_id),
                "photo_questions": rows(s, t.PhotoQuestion, t.PhotoQuestion.user_id == user_id),
                "labelled_crops": rows(s, t.LabelledCrop, t.LabelledCrop.user_id == user_id),
                "stored_photos": rows(s, t.StoredPhoto, t.StoredPhoto.user_id == user_id),
                "meal_preferences": rows(s, t.MealPreferences, t.MealPreferences.user_id == user_id),
                "meal_plans": rows(s, t.MealPlan, t.MealPlan.user_id == user_id),
                "plan_ratings": rows(s, t.PlanRating, t.PlanRating.user_id == user_id),
                "short_links": rows(s, t.ShortLink, t.ShortLink.user_id == user_id),
                "personal_preferences": rows(s, t.PersonalPreferences, t.PersonalPreferences.user_id == user_id),
                "subscription": rows(s, t.Subscription, t.Subscription.user_id == user_id),
                "scheduled_messages": rows(s, t.ScheduledJob, t.ScheduledJob.user_id == user_id),
                # the feed token's hash and the Google refresh token are secrets, not the person's data
                "calendar": [
                    {k: v for k, v in row.items() if k not in ("feed_token_sha256", "google_refresh_token")}
                    for row in rows(s, t.CalendarPerson, t.CalendarPerson.user_id == user_id)
                ],
                # events about their messages (delivery's) carry the message SID and no user id
                "events": rows(s, t.Event, or_(t.Event.user_id == user_id, t.Event.message_sid.in_(sids))),
            }

    def delete_user(self, user_id: int) -> DeletedUser:
        with self._tx() as s:
            sent = list(s.scalars(select(t.StoredPhoto.sha256).where(t.StoredPhoto.user_id == user_id)))
            with_media = select(t.Message.message_sid, t.Message.media).where(t.Message.user_id == user_id)
            media_messages = [sid for sid, media in s.execute(with_media) if media]
            now = utcnow()
            for sid in media_messages:  # Twilio's copies: deleted there by the worker, whatever happens to us
                if s.get(t.MediaDeletion, sid) is None:
                    s.add(t.MediaDeletion(message_sid=sid, created_at=now, next_attempt_at=now, attempts=0))
            sids = select(t.Message.message_sid).where(t.Message.user_id == user_id)
            meal_ids = select(t.Meal.id).where(t.Meal.user_id == user_id)
            _cancel_at_stripe(s, user_id, now)
            s.execute(delete(t.Outbound).where(or_(t.Outbound.message_sid.in_(sids), t.Outbound.user_id == user_id)))
            s.execute(delete(t.Event).where(t.Event.message_sid.in_(sids)))
            for statement in (
                delete(t.MealItem).where(t.MealItem.meal_id.in_(meal_ids)),
                delete(t.Meal).where(t.Meal.user_id == user_id),
                delete(t.Message).where(t.Message.user_id == user_id),
                delete(t.DailyTotal).where(t.DailyTotal.user_id == user_id),
                delete(t.Usage).where(t.Usage.user_id == user_id),
                delete(t.LabelledExample).where(t.LabelledExample.user_id == user_id),
                delete(t.Clarification).where(t.Clarification.user_id == user_id),
                delete(t.PhotoQuestion).where(t.PhotoQuestion.user_id == user_id),
                delete(t.LabelledCrop).where(t.LabelledCrop.user_id == user_id),
                delete(t.StoredPhoto).where(t.StoredPhoto.user_id == user_id),
                delete(t.ShortLink).where(t.ShortLink.user_id == user_id),
                delete(t.PlanRating).where(t.PlanRating.user_id == user_id),
                delete(t.MealPlan).where(t.MealPlan.user_id == user_id),
                delete(t.MealPreferences).where(t.MealPreferences.user_id == user_id),
                delete(t.PersonalPreferences).where(t.PersonalPreferences.user_id == user_id),
                delete(t.Subscription).where(t.Subscription.user_id == user_id),
                delete(t.ScheduledJob).where(t.ScheduledJob.user_id == user_id),
                delete(t.CalendarPerson).where(t.CalendarPerson.user_id == user_id),
                delete(t.Profile).where(t.Profile.user_id == user_id),
                delete(t.Event).where(t.Event.user_id == user_id),
                delete(t.User).where(t.User.id == user_id),
            ):
                s.execute(statement)
            kept = set(s.scalars(select(t.StoredPhoto.sha256).where(t.StoredPhoto.sha256.in_(sent)))) if sent else set()
            return DeletedUser([sha256 for sha256 in sent if sha256 not in kept], media_messages)

    def claim_media_deletions(self, now: datetime, lease_until: datetime, limit: int) -> list[tuple[str, int]]:
        """(message SID, attempts with this one) whose media is due for deletion at Twilio, leased to the caller
        until `lease_until`."""
        with self._tx() as s:
            d = t.MediaDeletion
            rows = s.scalars(select(d).where(d.next_attempt_at <= now).order_by(d.next_attempt_at).limit(limit)).all()
            for row in rows:
                row.next_attempt_at, row.attempts = lease_until, row.attempts + 1
            return [(row.message_sid, row.attempts) for row in rows]

    def media_deleted(self, message_sid: str) -> None:
        with self._tx() as s:
            s.execute(delete(t.MediaDeletion).where(t.MediaDeletion.message_sid == message_sid))

    def media_deletion_failed(self, message_sid: str, error: str, next_attempt_at: datetime) -> None:
        with self._tx() as s:
            row = s.get(t.MediaDeletion, message_sid)
            if row is not None:
                row.last_error, row.next_attempt_at = error, next_attempt_at

    def media_deletions(self) -> list[dict]:
        """Outstanding deletions at Twilio, oldest first (the admin CLI's `dead-letters` shows them)."""
        with self._tx() as s:
            columns = ("message_sid", "created_at", "attempts", "last_error")
            query = select(t.MediaDeletion).order_by(t.MediaDeletion.created_at)
            return [{c: getattr(row, c) for c in columns} for row in s.scalars(query)]
