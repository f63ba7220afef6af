"""What the bot does with one inbound message: dedupe, opt-out, limits, commands, photos → reply (TwiML).

Photos are analysed in a task, the coach's lines then put under the meal; if that finishes inside
`reply_budget_s` the result is the webhook's answer, otherwise the webhook answers with an acknowledgement
and the result follows with the REST API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.channel.answers import ack_reply, limit_reply, twiml
from bot.channel.delivery import Delivery
from bot.coach.commands import CONVERSATION_COMMANDS, parse_command, run_command
from bot.coach.conversation import Conversation
from bot.ledger import Ledger, LimitHit
from bot.photos.meal_analysis import MealAnalyser, Outcome
from bot.photos.media import kind_of
from bot.settings import BotSettings
from bot.storage.protocols import BotStore, off_loop
from bot.storage.records import DONE, IGNORED, PENDING, REJECTED, MediaRef, MessageRecord, UserRecord, utcnow

log = logging.getLogger(__name__)


class BadWebhook(ValueError):
    """The form lacks what every Twilio message webhook carries."""


@dataclass(frozen=True)
class Inbound:
    sid: str
    from_addr: str
    to_addr: str
    body: str
    media: tuple[MediaRef, ...]

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> Inbound:
        missing = [k for k in ("MessageSid", "From", "To") if not form.get(k)]
        if missing:
            raise BadWebhook(f"webhook form lacks {missing}")
        try:
            count = int(form.get("NumMedia") or 0)
        except ValueError as exc:
            raise BadWebhook(f"NumMedia={form.get('NumMedia')!r} is not a number") from exc
        media = tuple(
            MediaRef(form[f"MediaUrl{i}"], form.get(f"MediaContentType{i}", ""))
            for i in range(min(count, 10))  # Twilio sends at most 10
            if form.get(f"MediaUrl{i}")
        )
        return cls(form["MessageSid"], form["From"], form["To"], form.get("Body", ""), media)


def phone_of(address: str) -> str:
    """'whatsapp:+15550001' and '+15550001' are the same person."""
    return address.split(":", 1)[1] if address.startswith("whatsapp:") else address


class BotService:
    def __init__(
        self,
        settings: BotSettings,
        store: BotStore,
        ledger: Ledger,
        analyser: MealAnalyser,
        delivery: Delivery,
        conversation: Conversation,
    ):
        self.conversation = conversation
        self.settings = settings
        self.store = store
        self.ledger = ledger
        self.analyser = analyser
        self.delivery = delivery
        self._tasks: set[asyncio.Task] = set()

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)  # keep a reference: the loop holds tasks only weakly
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout_s: float) -> None:
        """Let background work finish (shutdown); what does not is left `pending` for the next start."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in late:
                task.cancel()

    async def _event(self, kind: str, sid: str | None, user_id: int | None = None, **detail) -> None:
        await off_loop(self.store.add_event, kind, utcnow(), sid, user_id, detail=detail)

    async def _finish(self, message: MessageRecord, status: str, reply: str | tuple[str, ...] | None) -> str:
        answer = twiml(reply)
        await off_loop(self.store.finish_message, message.sid, status, answer, utcnow())
        if reply:
            chars = len(reply) if isinstance(reply, str) else sum(map(len, reply))
            await self._event("replied", message.sid, message.user_id, via="twiml", status=status, chars=chars)
        return answer

    async def handle(self, inbound: Inbound) -> str:
        """Answer one webhook with TwiML. A MessageSid seen before gets the answer it got the first time."""
        now = utcnow()
        settings = self.settings
        user = await off_loop(
            self.store.get_or_create_user, phone_of(inbound.from_addr), settings.default_tier, settings.timezone
        )
        # A photo message is leased to this request from the start, so the retry worker leaves it alone.
        lease = now + timedelta(seconds=settings.lease_s) if inbound.media else None
        message, created = await off_loop(
            self.store.record_inbound,
            inbound.sid,
            user.id,
            inbound.from_addr,
            inbound.to_addr,
            inbound.body,
            list(inbound.media),
            PENDING if lease else "received",
            now,
            lease,
        )
        if not created:
            await self._event("duplicate", inbound.sid, user.id, status=message.status)
            # in flight or answered with the REST API: say nothing now, the first copy does
            return message.twiml_reply or twiml(None)
        await self._event("received", inbound.sid, user.id, media=len(inbound.media), chars=len(inbound.body))

        command = parse_command(inbound.body) if not inbound.media else None
        if user.opted_out and command != "start":
            await self._event("ignored", inbound.sid, user.id, reason="opted out")
            return await self._finish(message, IGNORED, None)
        if command in ("stop", "start"):  # always honoured, whatever the limits
            return await self._finish(message, DONE, await off_loop(run_command, command, self.store, user, now))

        hit = await off_loop(self.ledger.admit_message, user, now)
        if hit is not None:
            return await self._limited(message, user, hit, now)
        if inbound.media:
            return await self._photos(message, user, now)
        turn = await off_loop(self.conversation.handle, user, message, now)
        if turn.deleted:  # hard delete: nothing more is written about them, not even this message
            log.info("deleted user %s and all their data on request", user.id)
            return twiml(turn.messages)
        if turn.intent in CONVERSATION_COMMANDS:
            await self._event("command", inbound.sid, user.id, command=turn.intent)
        else:
            await self._event("text", inbound.sid, user.id, intent=turn.intent)
        return await self._finish(message, DONE, turn.messages)

    async def _limited(self, message: MessageRecord, user: UserRecord, hit: LimitHit, now: datetime) -> str:
        await self._event("limited", message.sid, user.id, what=hit.what, period=hit.period, limit=hit.limit)
        if not await off_loop(self.ledger.first_notice, user, now):
            return await self._finish(message, REJECTED, None)
        reply = limit_reply(hit, self.ledger.upgrade_options(user), self.settings.upgrade_url)
        return await self._finish(message, REJECTED, reply)

    async def _photos(self, message: MessageRecord, user: UserRecord, now: datetime) -> str:
        photos, _ = self.analyser.split_media(message.media)
        if not photos:
            kind = kind_of(message.media[0].content_type)
            await self._event("rejected", message.sid, user.id, reason=f"no photo among the attachments ({kind})")
            reply = f"I can only read photos (JPEG, PNG, WebP or HEIC), and that was {kind}."
            return await self._finish(message, REJECTED, reply)
        hit = await off_loop(self.ledger.reserve_photos, user, len(photos), now)
        if hit is not None:
            return await self._limited(message, user, hit, now)
        await off_loop(self.store.set_photos_reserved, message.sid, len(photos))
        message = await off_loop(self.store.get_message, message.sid)

        task = self._spawn(self._analyse(message, user))
        done, _ = await asyncio.wait({task}, timeout=self.settings.reply_budget_s)
        if task in done:
            outcome = task.result()
            answer = twiml(outcome.reply)
            await off_loop(self.store.set_twiml_reply, message.sid, answer)
            await self._event("replied", message.sid, user.id, via="twiml", status=outcome.status)
            return answer
        # Slow path: Twilio stops waiting at 15 s. Acknowledge now; the result goes out by REST.
        self._spawn(self._deliver_when_done(message, task))
        ack = twiml(ack_reply(len(photos)))
        await off_loop(self.store.set_twiml_reply, message.sid, ack)
        await self._event("acknowledged", message.sid, user.id, budget_s=self.settings.reply_budget_s)
        return ack

    async def _analyse(self, message: MessageRecord, user: UserRecord) -> Outcome:
        """Analyse the message's photos; under a meal they logged, the coach's lines (what's left, ideas, a question)."""
        outcome = await self.analyser.analyse(message, user)
        if outcome.meal is None:
            return outcome
        try:
            # a question about an unknown food is the one question of this reply
            ask = not outcome.meal.unknown
            coaching = await off_loop(self.conversation.after_photo, user, outcome.meal.totals, outcome.meal.at, ask)
        except Exception:  # the meal is logged; coaching is a bonus that must not lose the reply
            log.exception("coaching after %s failed", message.sid)
            return outcome
        return replace(outcome, reply=outcome.meal.reply(coaching))

    async def _deliver_when_done(self, message: MessageRecord, task: asyncio.Task[Outcome]) -> None:
        outcome = await task
        await self.delivery.send(message, outcome)

    async def retry_pending(self, limit: int = 4) -> int:
        """Analyse the `pending` messages whose retry time has come; send their results. Returns how many."""
        now = utcnow()
        due = await off_loop(self.store.claim_due_messages, now, now + timedelta(seconds=self.settings.lease_s), limit)
        for message in due:
            user = await off_loop(self.store.get_user, message.user_id)
            outcome = await self._analyse(message, user)
            if outcome.status != PENDING:  # a retry that fails again stays quiet: they were told already
                await self.delivery.send(message, outcome)
        return len(due)
