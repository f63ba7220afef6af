"""Replies sent with the Twilio REST API, through an outbox: one row per (message, kind), sent at most once
successfully, retried with backoff when the Messages API fails."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.channel.messenger import DeliveryFailed, Messenger
from bot.photos.meal_analysis import Outcome, retry_delay
from bot.settings import BotSettings
from bot.storage.protocols import BotStore, off_loop
from bot.storage.records import MessageRecord, OutboundRecord, utcnow

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    settings: BotSettings
    store: BotStore
    messenger: Messenger

    async def send(self, message: MessageRecord, outcome: Outcome) -> None:
        """Queue the outcome's reply to the person who wrote `message`, and try to send it now."""
        if not outcome.reply:
            return
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.lease_s)
        queued = await off_loop(
            self.store.enqueue_outbound,
            message.sid,
            outcome.kind,
            message.from_addr,
            message.to_addr,
            outcome.reply,
            now,
            lease,
        )
        if queued is None:
            log.info("reply %s for %s was queued before; not sending it twice", outcome.kind, message.sid)
            return
        await self.attempt(queued)

    async def attempt(self, outbound: OutboundRecord) -> bool:
        """One try at sending a leased outbox row; on failure schedule the next or give up."""
        try:
            twilio_sid = await off_loop(self.messenger.send, outbound.to_addr, outbound.from_addr, outbound.body)
        except DeliveryFailed as exc:
            now = utcnow()
            final = outbound.attempts >= self.settings.retry_max_attempts
            delay = retry_delay(outbound.attempts, self.settings.retry_base_s, self.settings.retry_max_s)
            await off_loop(
                self.store.mark_outbound,
                outbound.id,
                "failed" if final else "queued",
                now,
                error=str(exc),
                next_attempt_at=None if final else now + timedelta(seconds=delay),
            )
            detail = {"via": "rest", "kind": outbound.kind, "error": str(exc), "final": final}
            await off_loop(self.store.add_event, "reply_failed", now, outbound.message_sid, detail=detail)
            log.warning(
                "REST reply %s for %s failed (attempt %d): %s",
                outbound.kind,
                outbound.message_sid,
                outbound.attempts,
                exc,
            )
            return False
        now = utcnow()
        await off_loop(self.store.mark_outbound, outbound.id, "sent", now, twilio_sid=twilio_sid)
        detail = {"via": "rest", "kind": outbound.kind, "twilio_sid": twilio_sid, "chars": len(outbound.body)}
        await off_loop(self.store.add_event, "replied", now, outbound.message_sid, detail=detail)
        return True

    async def retry_due(self, limit: int = 8) -> int:
        """Send the outbox rows whose time has come; return how many were tried."""
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.lease_s)
        due = await off_loop(self.store.claim_due_outbound, now, lease, limit)
        for outbound in due:
            await self.attempt(outbound)
        return len(due)
