"""What the bot does with one inbound message: dedupe, opt-out, limits, commands, photos → reply (TwiML).

Each message is worked on in a task that ends in ONE transaction: its effects (a meal, a profile change), its
new state and its reply as outbox rows. If that finishes inside `reply_budget_s` the reply is the webhook's
answer (the rows are marked delivered once the response is out), otherwise the webhook answers with an
acknowledgement and the rows go out by REST. What a crash interrupts is redone from the lease.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.calendar.zones import zone_for_phone
from bot.channel.answers import ack_reply, limit_reply, twiml
from bot.channel.delivery import Delivery
from bot.channel.inbound import Inbound, phone_of
from bot.coach.commands import CONVERSATION_COMMANDS, parse_command, run_command
from bot.coach.conversation import Conversation
from bot.ledger import Ledger, LimitHit
from bot.photos.meal_analysis import MealAnalyser, Outcome, PhotoMeal
from bot.photos.meal_reply import GAVE_UP
from bot.photos.media import kind_of
from bot.settings import BotSettings
from bot.storage.protocols import BotStore, off_loop
from bot.storage.records import DONE, FAILED, IGNORED, PENDING, REJECTED, MessageRecord, UserRecord, utcnow
from bot.storage.replies import queue_reply
from bot.voice.service import VoiceNotes, heard_first

log = logging.getLogger(__name__)
# Twilio stops waiting for a webhook's answer after 15 s, and TwiML answered later never reaches the person. Replies
# go into an answer (and are marked delivered by it) only while the request is well inside that; else they stay
# queued for REST, where a lease run out means Twilio is asked first whether the reply went out after all.
TWIML_DEADLINE_S = 10.0


def in_time(arrived: float | None) -> bool:
    """Whether a webhook that arrived at `arrived` (the event loop's clock; None: unknown) may still carry replies."""
    return arrived is None or asyncio.get_running_loop().time() - arrived < TWIML_DEADLINE_S


@dataclass(frozen=True)
class Answer:
    """The webhook's TwiML, and the outbox rows it carries (delivered once the response has gone out)."""

    twiml: str
    delivered: tuple[int, ...] = ()
    outcome: str = "replied"  # for the metrics: replied, silent, acknowledged, duplicate, error


class BotService:
    def __init__(
        self,
        settings: BotSettings,
        store: BotStore,
        ledger: Ledger,
        analyser: MealAnalyser,
        delivery: Delivery,
        conversation: Conversation,
        voice: VoiceNotes | None = None,
    ):
        self.conversation = conversation
        self.voice = voice
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

    def _confirm_after(self) -> datetime:
        """When a reply answered by TwiML now is looked up at Twilio (sent by REST if Twilio never got it)."""
        return utcnow() + timedelta(seconds=self.settings.twiml_confirm_s)

    async def answered(self, outbound_ids: tuple[int, ...], arrived: float | None = None) -> None:
        """The webhook's response carrying these outbox rows went out: they are `answered`, unconfirmed until Twilio's
        log is asked `twiml_confirm_s` later (Twilio may have stopped waiting for it) (run after sending it;
        if this process dies first, the rows stay queued and the delivery worker sends them by REST). A response
        that went out late (`in_time`) may have found Twilio gone: its rows are left to REST the same way."""
        if not in_time(arrived):
            log.warning("answer carrying outbox rows %s went out late: left to the REST sender", outbound_ids)
            return
        try:
            await off_loop(self.store.mark_twiml, list(outbound_ids), self._confirm_after())
        except Exception:  # the REST fallback will send them: a duplicate is better than a loss
            log.exception("could not mark outbox rows %s answered by TwiML", outbound_ids)

    async def handle(self, inbound: Inbound, arrived: float | None = None) -> Answer:
        """Answer one webhook (that arrived at `arrived`, the event loop's clock) with TwiML. A MessageSid seen before gets
        the answer it got the first time.

        Every message is leased to the request handling it, so a crash mid-way leaves it `pending` for the retry
        worker (or for Twilio's retry of the same MessageSid, which takes it over once the lease expired)."""
        user, message, created = await off_loop(self._record, inbound)
        if not created:
            return await self._again(message, user, arrived)
        return await self._work(message, user)

    def _record(self, inbound: Inbound) -> tuple[UserRecord, MessageRecord, bool]:
        """The person, the message (new, or seen before) and its first event, in one transaction: under load every
        acquisition of SQLite's write lock is a wait."""
        now, settings = utcnow(), self.settings
        with self.store.unit_of_work():
            phone = phone_of(inbound.from_addr)
            # a new person's zone: their country's when it has only one (bot.calendar.zones), else the default
            user = self.store.get_or_create_user(
                phone, settings.default_tier, zone_for_phone(phone) or settings.timezone
            )
            lease = now + timedelta(seconds=settings.lease_s)
            media = list(inbound.media)
            message, created = self.store.record_inbound(
                inbound.sid, user.id, inbound.from_addr, inbound.to_addr, inbound.body, media, PENDING, now, lease
            )
            if created:
                detail = {"media": len(inbound.media), "chars": len(inbound.body)}
            else:
                detail = {"status": message.status}
            self.store.add_event("received" if created else "duplicate", now, inbound.sid, user.id, detail=detail)
            return user, message, created

    async def _again(self, message: MessageRecord, user: UserRecord, arrived: float | None = None) -> Answer:
        """Twilio sent this MessageSid again: it never got our answer."""
        now = utcnow()
        taken = await off_loop(self.store.take_over, message.sid, now, now + timedelta(seconds=self.settings.lease_s))
        if taken is not None:  # whoever had it died before deciding anything: this request does the work
            await self._event("taken_over", message.sid, user.id, attempt=taken.attempts)
            return await self._work(taken, user)
        # a replay marks queued replies answered: not in an answer Twilio may no longer wait for
        bodies = await off_loop(self.store.replay_twiml, message.sid, self._confirm_after()) if in_time(arrived) else []
        if bodies:
            return Answer(twiml(tuple(bodies)), outcome="duplicate")
        # in flight, or answered with the REST API: say nothing now (or repeat the acknowledgement)
        return Answer(message.twiml_reply or twiml(None), outcome="duplicate")

    async def _work(self, message: MessageRecord, user: UserRecord) -> Answer:
        """Decide, persist and queue the reply in a task; answer with it if that takes under `reply_budget_s`,
        else with an acknowledgement (photos) or nothing (text), the reply then following by REST."""
        task = self._spawn(self._process(message, user))
        done, _ = await asyncio.wait({task}, timeout=self.settings.reply_budget_s)
        if task in done:
            if task.exception() is not None:  # a bug: the message stays leased, then pending for the retry worker
                log.error("handling %s failed", message.sid, exc_info=task.exception())
                return Answer(twiml(None), outcome="error")
            outcome = task.result()
            if outcome.direct:
                return Answer(twiml(outcome.direct))
            bodies = tuple(row.body for row in outcome.outbox)
            if bodies:
                chars = sum(map(len, bodies))
                await self._event("replied", message.sid, user.id, via="twiml", status=outcome.status, chars=chars)
            return Answer(twiml(bodies), tuple(row.id for row in outcome.outbox), "replied" if bodies else "silent")
        # Slow path: Twilio stops waiting at 15 s. Acknowledge now; the result goes out by REST.
        self._spawn(self._deliver_when_done(message, task))
        photos = len(self.analyser.split_media(message.media)[0]) if message.media else 0
        answer = twiml(ack_reply(photos)) if photos else twiml(None)
        await off_loop(self._acknowledged, message, answer)
        return Answer(answer, outcome="acknowledged")

    def _acknowledged(self, message: MessageRecord, answer: str) -> None:
        with self.store.unit_of_work():
            self.store.set_twiml_reply(message.sid, answer)
            detail = {"budget_s": self.settings.reply_budget_s}
            self.store.add_event("acknowledged", utcnow(), message.sid, message.user_id, detail=detail)

    async def _process(self, message: MessageRecord, user: UserRecord) -> Outcome:
        if message.attempts > self.settings.retry_max_attempts:  # it failed every time: stop, and say so
            return await off_loop(self._give_up, message, user)
        if not message.media:
            return await off_loop(self._text, message, user)
        note = self.voice.note_of(message.media, self.analyser.media.allowed_types) if self.voice else None
        if note is not None:  # a voice note: its words are handled as a typed message, under "I heard: ..."
            heard = await self.voice.hear(message, user, note)
            if isinstance(heard, Outcome):
                return heard
            return await off_loop(self._text, replace(message, body=heard.message), user, heard.said)
        if message.photos_reserved == 0:  # not admitted yet (a retry of a message whose first try died early)
            refused = await off_loop(self._admit_photos, message, user)
            if refused is not None:
                return refused
            message = await off_loop(self.store.get_message, message.sid)
        return await self._analyse(message, user)

    def _queued(self, message: MessageRecord, status: str, reply, kind: str = "reply") -> Outcome:
        """Finish the message and queue its reply: call inside a unit of work."""
        now = utcnow()
        self.store.finish_message(message.sid, status, None, now)
        return Outcome(
            status, None, kind, outbox=queue_reply(self.store, message, kind, reply, now, self.settings.lease_s)
        )

    def _limited(self, message: MessageRecord, user: UserRecord, hit: LimitHit, now: datetime) -> Outcome:
        detail = {"what": hit.what, "period": hit.period, "limit": hit.limit}
        self.store.add_event("limited", now, message.sid, user.id, detail=detail)
        if not self.ledger.first_notice(user, now):
            return self._queued(message, REJECTED, None)
        upgrades, url, billing = self.ledger.upgrade_options(user), self.settings.upgrade_url, self.conversation.billing
        if upgrades and billing is not None:  # with payments on, the nudge is the person's own link to Checkout
            url = billing.checkout_link(user, upgrades[0][0], now) or url
        reply = limit_reply(hit, upgrades, url)
        return self._queued(message, REJECTED, reply)

    def _text(self, message: MessageRecord, user: UserRecord, heard: str | None = None) -> Outcome:
        """A text message, in one transaction: limits, the conversation's effects, the message's state, the reply.
        `heard`: the words of a voice note, quoted above the reply."""
        with self.store.unit_of_work():
            now = utcnow()
            command = parse_command(message.body)
            if user.opted_out and command != "start":
                self.store.add_event("ignored", now, message.sid, user.id, detail={"reason": "opted out"})
                return self._queued(message, IGNORED, None)
            if command in ("stop", "start"):  # always honoured, whatever the limits
                return self._queued(message, DONE, heard_first(heard, run_command(command, self.store, user, now)))
            hit = self.ledger.admit_message(user, now)
            if hit is not None:
                return self._limited(message, user, hit, now)
            turn = self.conversation.handle(user, message, now)
            if turn.deleted:  # hard delete: nothing more is written about them, not even this message
                log.info("deleted user %s and all their data on request", user.id)
                return Outcome(DONE, None, "reply", direct=turn.messages)
            if turn.intent in CONVERSATION_COMMANDS:
                self.store.add_event("command", now, message.sid, user.id, detail={"command": turn.intent})
            else:
                self.store.add_event("text", now, message.sid, user.id, detail={"intent": turn.intent})
            return self._queued(message, DONE, heard_first(heard, turn.messages))

    def _admit_photos(self, message: MessageRecord, user: UserRecord) -> Outcome | None:
        """Opt-out, limits and the photo reservation, in one transaction; an Outcome when the photos are refused."""
        with self.store.unit_of_work():
            now = utcnow()
            if user.opted_out:
                self.store.add_event("ignored", now, message.sid, user.id, detail={"reason": "opted out"})
                return self._queued(message, IGNORED, None)
            hit = self.ledger.admit_message(user, now)
            if hit is not None:
                return self._limited(message, user, hit, now)
            photos, _ = self.analyser.split_media(message.media)
            if not photos:
                kind = kind_of(message.media[0].content_type)
                detail = {"reason": f"no photo among the attachments ({kind})"}
                self.store.add_event("rejected", now, message.sid, user.id, detail=detail)
                reply = f"I can only read photos (JPEG, PNG, WebP or HEIC), and that was {kind}."
                return self._queued(message, REJECTED, reply, "result")
            hit = self.ledger.reserve_photos(user, len(photos), now)
            if hit is not None:
                return self._limited(message, user, hit, now)
            self.store.set_photos_reserved(message.sid, len(photos))
            return None

    async def _analyse(self, message: MessageRecord, user: UserRecord) -> Outcome:
        """Analyse the message's photos; under a meal they logged, the coach's lines (what's left, ideas, a question)."""

        def coach(meal: PhotoMeal) -> list[str]:
            try:
                # a question about an unknown food is the one question of this reply
                return self.conversation.after_photo(user, meal.totals, meal.at, not meal.unknown, meal.items)
            except Exception:  # the meal is logged; coaching is a bonus that must not lose the reply
                log.exception("coaching after %s failed", message.sid)
                return []

        return await self.analyser.analyse(message, user, coach)

    def _give_up(self, message: MessageRecord, user: UserRecord) -> Outcome:
        with self.store.unit_of_work():
            now = utcnow()
            self.ledger.refund_photos(user, message.photos_reserved, message.created_at)
            detail = {"error": "handling failed on every attempt", "attempts": message.attempts}
            self.store.add_event("gave_up", now, message.sid, user.id, detail=detail)
            log.error("gave up on %s after %d attempts", message.sid, message.attempts)
            return self._queued(message, FAILED, GAVE_UP, "failed")

    async def _deliver_when_done(self, message: MessageRecord, task: asyncio.Task[Outcome]) -> None:
        try:
            outcome = await task
        except Exception:  # logged; the message stays pending and the retry worker takes it up after its lease
            log.exception("handling %s failed", message.sid)
            return
        if outcome.direct:
            await self.delivery.send_direct(message.from_addr, message.to_addr, outcome.direct)
        await self.delivery.deliver(outcome.outbox)

    async def retry_pending(self, limit: int = 8) -> int:
        """Redo the `pending` messages whose retry time has come (or whose worker died); send their replies by REST.
        Returns how many."""
        now = utcnow()
        due = await off_loop(self.store.claim_due_messages, now, now + timedelta(seconds=self.settings.lease_s), limit)
        results = await asyncio.gather(*(self.redo(message) for message in due), return_exceptions=True)
        for message, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):  # it stays pending: the next lease expiry tries again
                log.error("retrying %s failed", message.sid, exc_info=result)
        return len(due)

    async def redo(self, message: MessageRecord) -> None:
        """Work on a `pending` message leased to the caller again (a retry), sending its replies by REST."""
        user = await off_loop(self.store.get_user, message.user_id)
        if user is None:  # deleted meanwhile
            return
        outcome = await self._process(message, user)
        if outcome.direct:
            await self.delivery.send_direct(message.from_addr, message.to_addr, outcome.direct)
        await self.delivery.deliver(outcome.outbox)
