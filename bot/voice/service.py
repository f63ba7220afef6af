"""One voice note → the words the conversation reads as if typed: download (Twilio's hosts only), decode, keep the
audio like a photo, transcribe, count the seconds and the cost. The channel then handles the words as a text
message and puts "I heard: ..." above its reply, so a mis-hearing shows and can be corrected.

Whatever goes wrong is said plainly and the message stays recorded: a refusal (too long, silent, not audio) is
final; a failure that may pass (download, a cloud engine) is retried like a photo.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.chat_text import MAX_CHARS, fit
from bot.ledger import Ledger
from bot.photos.meal_analysis import Outcome, retry_delay
from bot.photos.media import MediaFetcher, MediaRejected, MediaUnavailable, base_type
from bot.settings import BotSettings
from bot.storage.photo_store import PhotoStore, PhotoStoreError, sha256_of
from bot.storage.protocols import BotStore, off_loop
from bot.storage.records import FAILED, PENDING, REJECTED, MediaRef, MessageRecord, UserRecord, utcnow
from bot.storage.replies import queue_reply
from bot.voice.audio import AudioDecoder, AudioRejected, DecoderMissing
from bot.voice.transcript import Note, Transcriber, Transcript, TranscriptionUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE = "Sorry, I couldn't listen to your voice note just now. I've kept it and will retry shortly."
GAVE_UP = "Sorry, I still couldn't listen to the voice note you sent earlier. Please send it again, or type it."
NO_WORDS = (
    "I couldn't make out any words in that voice note (too much noise?). Try again closer to the phone, "
    'or type it, e.g. "2 eggs and a slice of toast".'
)
OVER_CAP = "Voice notes are paused for today (your daily limit is reached). You can type your meal instead."


@dataclass(frozen=True)
class Heard:
    """A note transcribed: what was heard, and the message to handle as if typed."""

    transcript: Transcript
    seconds: float

    @property
    def message(self) -> str:
        return self.transcript.message

    @property
    def said(self) -> str:
        """As the engine wrote it, for "I heard: ..."."""
        return self.transcript.text


def heard_first(heard: str | None, reply: str | Sequence[str] | None) -> str | Sequence[str] | None:
    """The reply with "I heard: ..." as its first line (`heard` None: a typed message, the reply as it is)."""
    if heard is None or not reply:
        return reply
    first, *rest = [reply] if isinstance(reply, str) else list(reply)
    lines = fit(f'I heard: "{heard}"\n{first}', MAX_CHARS)
    return (lines, *rest) if rest else lines


class VoiceNotes:
    def __init__(
        self,
        settings: BotSettings,
        store: BotStore,
        ledger: Ledger,
        media: MediaFetcher,
        decoder: AudioDecoder,
        transcriber: Transcriber,
        photos: PhotoStore | None = None,
    ):
        self.settings = settings
        self.store = store
        self.ledger = ledger
        self.media = media
        self.decoder = decoder
        self.transcriber = transcriber
        self.photos = photos

    def note_of(self, media: tuple[MediaRef, ...], photo_types: frozenset[str]) -> MediaRef | None:
        """The voice note of a message without photos (a photo wins: it is the meal); None if there is none."""
        if any(base_type(ref.content_type) in photo_types for ref in media):
            return None
        return next((ref for ref in media if self.media.accepts(ref.content_type)), None)

    async def hear(self, message: MessageRecord, user: UserRecord, ref: MediaRef) -> Heard | Outcome:
        """The words of the note, or the Outcome already decided (a refusal, a retry later), its reply queued."""
        if self.transcriber.paid and await off_loop(self.ledger.over_cost_cap, user, utcnow()) is not None:
            return await off_loop(self._refused, message, user, OVER_CAP, "over the daily cost cap")
        try:
            fetched = await self.media.fetch(ref.url, ref.content_type)
            pcm = await off_loop(self.decoder.decode, fetched.data)
        except (MediaRejected, AudioRejected) as exc:
            return await off_loop(self._refused, message, user, f"Sorry, {exc.reason}.", exc.reason)
        except MediaUnavailable as exc:
            return await off_loop(self._retry_later, message, user, f"{type(exc).__name__}: {exc}")
        except DecoderMissing:
            log.exception("voice note %s cannot be decoded here", message.sid)
            return await off_loop(self._retry_later, message, user, "ffmpeg is missing")
        sha256 = await self._keep(user, fetched.data, fetched.content_type)
        note = Note(pcm, fetched.data, fetched.content_type, sha256, message.sid)
        try:
            transcript = await off_loop(self.transcriber.transcribe, note)
        except AudioRejected as exc:
            return await off_loop(self._refused, message, user, f"Sorry, {exc.reason}.", exc.reason)
        except TranscriptionUnavailable as exc:
            return await off_loop(self._retry_later, message, user, str(exc))
        heard = Heard(transcript, pcm.seconds)
        await off_loop(self._record, message, user, heard, sha256)
        if not transcript.message:
            return await off_loop(self._refused, message, user, NO_WORDS, "no words heard")
        return heard

    async def _keep(self, user: UserRecord, data: bytes, content_type: str) -> str:
        """Keep the audio in the photo store (Twilio's copy is deleted with the person's data); a failing store must
        not cost them the note, so it is logged and the note is still heard."""
        sha256 = sha256_of(data)
        if self.photos is None:
            return sha256
        try:
            await off_loop(self.photos.put, data, content_type)
        except (PhotoStoreError, OSError) as exc:
            log.error("photo store failed for a voice note: %s", exc)
            return sha256
        kept = [{"sha256": sha256, "content_type": content_type, "bytes": len(data)}]
        await off_loop(self.store.add_stored_photos, user.id, kept, utcnow())
        return sha256

    def _record(self, message: MessageRecord, user: UserRecord, heard: Heard, sha256: str) -> None:
        with self.store.unit_of_work():
            now = utcnow()
            self.ledger.record_voice(user, heard.seconds, heard.transcript.cost_usd, message.created_at)
            detail = {
                "engine": heard.transcript.engine,
                "seconds": round(heard.seconds, 2),
                "cost_usd": heard.transcript.cost_usd,
                "heard": heard.transcript.text,
                "sha256": sha256,
            }
            self.store.add_event("transcribed", now, message.sid, user.id, detail=detail)

    def _refused(self, message: MessageRecord, user: UserRecord, reply: str, reason: str) -> Outcome:
        with self.store.unit_of_work():
            now = utcnow()
            self.store.add_event("rejected", now, message.sid, user.id, detail={"voice": True, "reason": reason})
            self.store.finish_message(message.sid, REJECTED, None, now)
            rows = queue_reply(self.store, message, "result", reply, now, self.settings.lease_s)
            return Outcome(REJECTED, reply, "result", outbox=rows)

    def _retry_later(self, message: MessageRecord, user: UserRecord, error: str) -> Outcome:
        settings = self.settings
        with self.store.unit_of_work():
            now = utcnow()
            if message.attempts >= settings.retry_max_attempts:
                self.store.finish_message(message.sid, FAILED, None, now)
                detail = {"error": error, "attempts": message.attempts, "voice": True}
                self.store.add_event("gave_up", now, message.sid, user.id, detail=detail)
                log.error("gave up on voice note %s after %d attempts: %s", message.sid, message.attempts, error)
                rows = queue_reply(self.store, message, "failed", GAVE_UP, now, settings.lease_s)
                return Outcome(FAILED, GAVE_UP, "failed", outbox=rows)
            delay = retry_delay(message.attempts, settings.retry_base_s, settings.retry_max_s)
            self.store.schedule_retry(message.sid, error, now + timedelta(seconds=delay), now)
            detail = {"error": error, "attempt": message.attempts, "retry_in_s": delay, "voice": True}
            self.store.add_event("transcription_failed", now, message.sid, user.id, detail=detail)
            log.warning(
                "voice note %s failed (attempt %d), retry in %.0f s: %s", message.sid, message.attempts, delay, error
            )
            rows = queue_reply(self.store, message, "unavailable", UNAVAILABLE, now, settings.lease_s)
            return Outcome(PENDING, UNAVAILABLE, "unavailable", outbox=rows)
