"""Turn one photo message into a meal log: download each photo, ask the model server, save, write the reply.

A message's photos make one meal, saved only when every photo has an answer (or a final refusal), so a
retry never logs half a meal. Transient failures leave the message `pending` for the retry worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.chat_text import is_whatsapp
from bot.gallery.ask_back import AskBack
from bot.ledger import Ledger, period_keys
from bot.personal.service import Learning
from bot.personal.wording import PORTIONS_NOTE
from bot.photos.analysis_client import Analysis, AnalysisClient, AnalysisUnavailable, PhotoRejected
from bot.photos.meal_reply import GAVE_UP, UNAVAILABLE, UnknownFood, meal_reply
from bot.photos.media import MediaFetcher, MediaRejected, MediaUnavailable, Photo, kind_of
from bot.settings import BotSettings
from bot.storage.photo_store import PhotoStore, PhotoStoreError
from bot.storage.protocols import BotStore, off_loop
from bot.storage.records import (
    DONE,
    FAILED,
    ITEM_FIELDS,
    PENDING,
    REJECTED,
    DayTotals,
    ItemRecord,
    MediaRef,
    MessageRecord,
    OutboundRecord,
    UserRecord,
    utcnow,
)
from bot.storage.replies import queue_reply

log = logging.getLogger(__name__)
Coach = Callable[["PhotoMeal"], Sequence[str]]  # the coach's lines under a logged meal (blocking)

_REFUSALS = (PhotoRejected, MediaRejected)  # final answers about one photo: tell the person, don't retry
_ITEM_FIELDS = tuple(f for f in ITEM_FIELDS if f != "photo_index")


@dataclass(frozen=True)
class PhotoMeal:
    """A photo meal just logged, with what its reply says: the channel puts the coach's lines under it."""

    items: tuple[ItemRecord, ...]
    totals: DayTotals
    whatsapp: bool
    photos: int
    notes: tuple[str, ...]
    hint: str | None
    at: datetime
    unknown: tuple[UnknownFood, ...] = ()  # foods the model doesn't know: shown and asked about, not counted

    def reply(self, footer: Sequence[str] = ()) -> str:
        return meal_reply(
            self.items,
            self.totals,
            self.whatsapp,
            photos=self.photos,
            notes=self.notes,
            hint=self.hint,
            footer=footer,
            unknown=self.unknown,
        )


@dataclass(frozen=True)
class Outcome:
    """What became of a message: its status, and the reply to send (kind names it in the outbox).
    `meal`: the meal it logged, when it has items; `outbox`: the rows its reply was queued as, in the transaction
    that decided it (none when this kind of reply was queued before: a retry that fails again stays quiet)."""

    status: str
    reply: str | None
    kind: str
    meal: PhotoMeal | None = None
    outbox: tuple[OutboundRecord, ...] = ()
    direct: tuple[str, ...] = ()  # a reply with no outbox row: the goodbye to a person just deleted


def _remembered_note(name: str, own: bool) -> str:
    who = "you taught me" if own else "several people taught me"
    return f"I recognised the {name.lower()} from a photo {who}."


def _unknown(question: dict) -> UnknownFood:
    names = tuple(c["display_name"] for c in question["choices"])
    return UnknownFood(question["photo_index"], names, question["item"].get("grams"), question["item"].get("where"))


def retry_delay(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential backoff: base, 2·base, 4·base… capped at max."""
    return min(max_s, base_s * 2 ** max(0, attempts - 1))


class MealAnalyser:
    """`ask_back` names unknown foods from the gallery and asks about the rest; `photos` keeps the bytes of every
    photo analysed."""

    def __init__(
        self,
        settings: BotSettings,
        store: BotStore,
        ledger: Ledger,
        media: MediaFetcher,
        analysis: AnalysisClient,
        ask_back: AskBack,
        photos: PhotoStore | None = None,
    ):
        self.settings = settings
        self.store = store
        self.ledger = ledger
        self.media = media
        self.analysis = analysis
        self.photos = photos
        self.ask_back = ask_back
        self.learning = Learning(store)

    async def _keep_photos(self, user: UserRecord, photos: list[Photo]) -> None:
        """Store the bytes ourselves (Twilio's URLs expire). A failing store must not cost the person their
        meal: it is logged, and that photo's labelled crops will lack bytes."""
        if self.photos is None:
            return
        kept = []
        for photo in photos:
            try:
                await off_loop(self.photos.put, photo.data, photo.content_type)
            except (PhotoStoreError, OSError) as exc:
                log.error("photo store failed for %s: %s", photo.url, exc)
                continue
            ref = photo.reference()
            kept.append({k: ref[k] for k in ("sha256", "content_type", "bytes")})
        if kept:
            await off_loop(self.store.add_stored_photos, user.id, kept, utcnow())

    def split_media(self, media: tuple[MediaRef, ...]) -> tuple[list[tuple[int, MediaRef]], list[str]]:
        """The photos to analyse (index in the message, ref) and notes about the attachments left out."""
        photos = [(i, ref) for i, ref in enumerate(media) if self.media.accepts(ref.content_type)]
        notes = [
            f"Attachment {i + 1} skipped: I can only read photos, and that was {kind_of(ref.content_type)}."
            for i, ref in enumerate(media)
            if not self.media.accepts(ref.content_type)
        ]
        limit = self.settings.max_photos_per_message
        if len(photos) > limit:
            notes.append(f"I looked at the first {limit} photos only.")
        return photos[:limit], notes

    async def _one_photo(self, ref: MediaRef) -> tuple[Photo, Analysis]:
        photo = await self.media.fetch(ref.url, ref.content_type)
        return photo, await self.analysis.analyze(photo.data, photo.content_type)

    async def analyse(self, message: MessageRecord, user: UserRecord, coach: Coach | None = None) -> Outcome:
        """Analyse, persist, and say what to reply. Never raises for a failure of the photo or the server.

        The downloads and the model server come first; then the meal, the message's new state, its events and
        its reply in the outbox are written in ONE transaction (`coach` adds its lines inside it), so a crash
        leaves either all of them or none (and the message `pending`, for the retry worker)."""
        photos, notes = self.split_media(message.media)
        results = await asyncio.gather(*(self._one_photo(ref) for _, ref in photos), return_exceptions=True)
        transient = [r for r in results if isinstance(r, BaseException) and not isinstance(r, _REFUSALS)]
        for error in transient:
            if not isinstance(error, (AnalysisUnavailable, MediaUnavailable)):
                log.error("unexpected failure analysing %s", message.sid, exc_info=error)
        if transient:
            error = "; ".join(f"{type(e).__name__}: {e}" for e in transient)
            return await off_loop(self._retry_later, message, user, error)
        answered = [(i, r) for (i, _), r in zip(photos, results, strict=True) if not isinstance(r, BaseException)]
        await self._keep_photos(user, [photo for _, (photo, _) in answered])
        return await off_loop(self._persist, message, user, photos, results, notes, coach)

    def _persist(
        self, message: MessageRecord, user: UserRecord, photos, results, notes, coach: Coach | None
    ) -> Outcome:
        with self.store.unit_of_work():
            outcome = self._save(message, user, photos, results, notes)
            if outcome.meal is not None and coach is not None:
                outcome = replace(outcome, reply=outcome.meal.reply(coach(outcome.meal)))
            rows = queue_reply(self.store, message, outcome.kind, outcome.reply, utcnow(), self.settings.lease_s)
            return replace(outcome, outbox=rows)

    def _save(self, message: MessageRecord, user: UserRecord, photos: list, results: list, notes: list) -> Outcome:
        answered = [(i, r) for (i, _), r in zip(photos, results, strict=True) if not isinstance(r, BaseException)]
        refused = [(i, r) for (i, _), r in zip(photos, results, strict=True) if isinstance(r, _REFUSALS)]
        now = utcnow()
        if refused:
            self.ledger.refund_photos(user, len(refused), message.created_at)
        for i, error in refused:
            self.store.add_event("rejected", now, message.sid, user.id, detail={"photo": i, "reason": str(error)})
        if not answered:
            reason = refused[0][1].reason if len(refused) == 1 else "I couldn't read any of those photos"
            self.store.finish_message(message.sid, REJECTED, None, now)
            return Outcome(REJECTED, f"Sorry, {reason}.", "result")

        for _, (_, analysis) in answered:  # what the server paid a cloud namer for this person's photos
            for usage in analysis.usage:
                self.ledger.record_namer_usage(user, usage, message.created_at)
        whatsapp = is_whatsapp(message.from_addr)
        notes = [f"Photo {i + 1} skipped: {error.reason}." for i, error in refused] + notes
        # The gallery (foods people taught) is asked about every item, named or not: a food someone taught us is
        # often one the model names wrongly, not one it calls unknown (reports/openset/learning_curve.json:
        # new-food top-1 after 5 labelled photos 0.60 asked first, 0.48 asked only about unknown items).
        items, questions, remembered = [], [], []
        for i, (photo, analysis) in answered:
            for item in analysis.items:
                sent = item.model_dump()
                named = self.ask_back.gallery_item(user.id, sent, i)
                if item.named and (named is None or named[0].name == item.name):
                    items.append(ItemRecord(photo_index=i, **{k: getattr(item, k) for k in _ITEM_FIELDS}))
                elif named is not None:
                    items.append(named[0])
                    remembered.append((named[0].display_name, named[1].own))
                else:
                    ref = photo.reference()
                    image = analysis.image.model_dump() if analysis.image else None
                    question = self.ask_back.question(sent, i, ref, image, len(message.media))
                    questions.append(question)
        notes = [_remembered_note(name, own) for name, own in remembered] + notes
        day = period_keys(message.created_at, user.timezone)["day"]
        models = {str(i): {k: v.model_dump() for k, v in a.models.items()} for i, (_, a) in answered}
        photo_refs = [photo.reference() for _, (photo, _) in answered]
        meal_id = None
        if items:
            # the person's usual portions (learned from their corrections) scale the model's grams
            adjusted = self.learning.adjust_photo(user.id, items)
            items = list(adjusted.items)
            if adjusted.changed:
                notes.insert(0, PORTIONS_NOTE)
            meal, totals = self.store.save_meal(message.id, user.id, day, message.created_at, items, models, photo_refs)
            meal_id = meal.id
            self.learning.remember_photo(user.id, meal.id, adjusted, now)
            self.learning.meal_logged(user, message.created_at, foods=[item.display_name for item in items])
        else:
            totals = self.store.day_totals(user.id, day)
        unknown = tuple(_unknown(q) for q in questions)
        if questions:  # the newest photo's questions replace older ones
            meal_start = {"models": models, "photos": photo_refs}
            self.store.set_photo_questions(
                user.id,
                message.id,
                message.sid,
                day,
                message.created_at,
                meal_start,
                questions,
                now,
            )
        timings = {str(i): a.timings_ms for i, (_, a) in answered}
        detail = {"items": len(items), "models": models, "timings_ms": timings, "attempt": message.attempts}
        if remembered:
            detail["gallery"] = [name for name, _ in remembered]
        if questions:
            detail["questions"] = len(questions)
        if unknown:  # kept whole, with every suggestion, until the person says what it was
            detail["unknown"] = [
                {"photo": i, **item.model_dump(include={"box", "grams", "suggestions", "confidence"})}
                for i, (_, analysis) in answered
                for item in analysis.items
                if not item.named
            ]
        self.store.add_event("analysed", now, message.sid, user.id, meal_id, detail)
        self.store.finish_message(message.sid, DONE, None, now)
        hint = next((a.hint for _, (_, a) in answered if a.hint), None)
        logged = PhotoMeal(tuple(items), totals, whatsapp, len(message.media), tuple(notes), hint, now, unknown)
        return Outcome(DONE, logged.reply(), "result", logged if items else None)

    def _retry_later(self, message: MessageRecord, user: UserRecord, error: str) -> Outcome:
        with self.store.unit_of_work():
            outcome = self._schedule_or_give_up(message, user, error)
            rows = queue_reply(self.store, message, outcome.kind, outcome.reply, utcnow(), self.settings.lease_s)
            return replace(outcome, outbox=rows)

    def _schedule_or_give_up(self, message: MessageRecord, user: UserRecord, error: str) -> Outcome:
        now = utcnow()
        settings = self.settings
        if message.attempts >= settings.retry_max_attempts:
            self.ledger.refund_photos(user, message.photos_reserved, message.created_at)
            self.store.finish_message(message.sid, FAILED, None, now)
            self.store.add_event(
                "gave_up",
                now,
                message.sid,
                user.id,
                detail={"error": error, "attempts": message.attempts},
            )
            log.error("gave up on %s after %d attempts: %s", message.sid, message.attempts, error)
            return Outcome(FAILED, GAVE_UP, "failed")
        delay = retry_delay(message.attempts, settings.retry_base_s, settings.retry_max_s)
        retry_at = now + timedelta(seconds=delay)
        self.store.schedule_retry(message.sid, error, retry_at, now)
        detail = {"error": error, "attempt": message.attempts, "retry_in_s": delay}
        self.store.add_event("analysis_failed", now, message.sid, user.id, detail=detail)
        log.warning(
            "analysis of %s failed (attempt %d), retry in %.0f s: %s", message.sid, message.attempts, delay, error
        )
        return Outcome(PENDING, UNAVAILABLE, "unavailable")
