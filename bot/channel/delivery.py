"""Sending outbox rows with the Twilio REST API: each row is claimed by one sender, marked `sending` before the
call and `sent` with Twilio's SID after it, retried with backoff when the Messages API fails.

A row found `sending` under an expired lease died mid-send, and one found `queued` under an expired lease may
have gone out in a webhook response just before its process died: Twilio may or may not have the message
(it logs TwiML answers too). It is looked up (`Messenger.find_sent`) before it is sent, so a crash never sends
one reply twice. A row `answered` in a webhook response is unconfirmed the same way (the client may have stopped
waiting for that response): `twiml_confirm_s` later it is claimed like one, looked up, and sent only if Twilio
never got it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.channel.messenger import DeliveryFailed, Messenger
from bot.photos.meal_analysis import retry_delay
from bot.settings import BotSettings
from bot.storage.protocols import BotStore, off_loop
from bot.storage.records import OutboundRecord, utcnow
from bot.storage.sql.outbox import GAVE_UP, QUEUED, SENDING, SENT

log = logging.getLogger(__name__)
# Twilio's clock and ours may differ a little; kept small, so an earlier reply in the same words (the answer to
# an earlier "help") is not taken for this one.
LOOKUP_SLACK = timedelta(seconds=2)


@dataclass
class Delivery:
    settings: BotSettings
    store: BotStore
    messenger: Messenger

    async def deliver(self, rows: Iterable[OutboundRecord]) -> None:
        """Send these rows now (the slow path, a retried message): those not answered or taken another way."""
        for row in rows:
            now = utcnow()
            claimed = await off_loop(self.store.claim_outbound, row.id, now, now + self._lease())
            if claimed is not None:
                await self.attempt(claimed)

    async def send_direct(self, to_addr: str, from_addr: str, replies: Sequence[str]) -> None:
        """Send without an outbox row: only for the goodbye to a person whose data was just deleted."""
        for body in replies:
            try:
                await off_loop(self.messenger.send, to_addr, from_addr, body)
            except DeliveryFailed as exc:
                log.warning("goodbye after a deletion not sent: %s", exc)

    def _lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_s)

    async def attempt(self, row: OutboundRecord) -> bool:
        """One try at a row this process claimed (`sending`); on failure schedule the next or give up."""
        if row.unknown_since is not None:
            found = await self._already_sent(row)
            if found is None:
                return False  # the lookup failed: it stays `sending`-unknown until the next try
            if found:
                await self._sent(row, found, recovered=True)
                return True
        try:
            twilio_sid = await off_loop(self.messenger.send, row.to_addr, row.from_addr, row.body)
        except DeliveryFailed as exc:
            await self._failed(row, str(exc), QUEUED)
            return False
        await self._sent(row, twilio_sid)
        return True

    async def _already_sent(self, row: OutboundRecord) -> str | None:
        """Twilio's SID of this row's message if Twilio has it, "" if not, None if we couldn't ask."""
        since = row.unknown_since - LOOKUP_SLACK
        try:
            others = await off_loop(self.store.twilio_sids, row.to_addr, since - timedelta(days=1))
            found = await off_loop(self.messenger.find_sent, row.to_addr, row.from_addr, row.body, since, others)
        except DeliveryFailed as exc:
            await self._failed(row, f"lookup after a crash failed: {exc}", SENDING)
            return None
        return found or ""

    async def _sent(self, row: OutboundRecord, twilio_sid: str, recovered: bool = False) -> None:
        now = utcnow()
        await off_loop(self.store.mark_outbound, row.id, SENT, now, twilio_sid=twilio_sid)
        detail = {"via": "rest", "kind": row.kind, "twilio_sid": twilio_sid, "chars": len(row.body)}
        if recovered:
            detail["found_after_crash"] = True
        await off_loop(self.store.add_event, "replied", now, row.message_sid, row.user_id, detail=detail)

    async def _failed(self, row: OutboundRecord, error: str, retry_status: str) -> None:
        now = utcnow()
        final = row.attempts >= self.settings.retry_max_attempts
        delay = retry_delay(row.attempts, self.settings.retry_base_s, self.settings.retry_max_s)
        next_at = now + timedelta(seconds=delay)
        # a row whose fate is unknown keeps `sending`, leased until its next try, so that try asks Twilio again
        lease = next_at if retry_status == SENDING and not final else None
        await off_loop(
            self.store.mark_outbound,
            row.id,
            GAVE_UP if final else retry_status,
            now,
            error=error,
            next_attempt_at=None if final else next_at,
            lease_until=lease,
        )
        detail = {"via": "rest", "kind": row.kind, "error": error, "final": final, "attempt": row.attempts}
        await off_loop(self.store.add_event, "reply_failed", now, row.message_sid, row.user_id, detail=detail)
        log.warning("REST reply %s for %s failed (attempt %d): %s", row.kind, row.message_sid, row.attempts, error)

    async def retry_due(self, limit: int = 8) -> int:
        """Send the outbox rows whose time has come (and those a dead process left mid-send); how many were tried."""
        now = utcnow()
        due = await off_loop(self.store.claim_due_outbound, now, now + self._lease(), limit)
        for row in due:
            await self.attempt(row)
        return len(due)
