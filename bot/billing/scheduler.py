"""The billing worker, started with the app: every `billing_check_s` it downgrades the paid tiers whose scheduled
cancellation has come or whose grace after a failed payment is over (the person may send nothing meanwhile, and
Stripe's own event may come late), and cancels deleted people's subscriptions at Stripe, with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from bot.billing.checkout import BillingUnavailable
from bot.billing.service import Billing
from bot.photos.meal_analysis import retry_delay
from bot.storage.protocols import off_loop
from bot.storage.records import OutboundRecord, utcnow

log = logging.getLogger(__name__)


class BillingScheduler:
    def __init__(self, billing: Billing, poll_s: float):
        self.billing = billing
        self.poll_s = poll_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    def check_due(self, now: datetime) -> list[OutboundRecord]:
        """Apply what time alone changed (blocking); the notices to send."""
        changes, store = self.billing.changes, self.billing.store
        notices: list[OutboundRecord] = []
        for due in store.subscriptions_to_check(now, now - changes.grace):
            with store.unit_of_work():
                sub = store.subscription(due.user_id)  # again inside the transaction: a webhook may have been first
                user = store.get_user(due.user_id)
                if sub is None or changes.entitled(sub, now).tier == user.tier:
                    continue
                key = f"check-{user.id}-{now:%Y%m%dT%H%M%S}"
                applied = changes.apply(user, sub, now, key, {"by": "scheduled_check"})
            log.info(
                "user %s: %s → %s by the scheduled check (%s)", user.id, applied.tier_before, applied.tier, sub.status
            )
            notices.extend(applied.notices)
        return notices

    def cancel_due(self, now: datetime, limit: int = 8) -> int:
        """Cancel at Stripe the subscriptions of deleted people that are due (blocking); how many were tried."""
        store, settings, gateway = self.billing.store, self.billing.settings, self.billing.gateway
        if gateway is None:
            return 0
        due = store.claim_stripe_cancellations(now, now + timedelta(seconds=settings.lease_s), limit)
        for subscription_id, attempts in due:
            try:
                gateway.cancel(subscription_id)
            except BillingUnavailable as exc:
                delay = retry_delay(attempts, settings.retry_base_s, settings.retry_max_s)
                store.stripe_cancellation_failed(subscription_id, str(exc), utcnow() + timedelta(seconds=delay))
                log.error(
                    "deleted person's subscription %s not cancelled (attempt %d): %s", subscription_id, attempts, exc
                )
                continue
            store.stripe_cancelled(subscription_id)
            log.info("cancelled the deleted person's subscription %s at Stripe", subscription_id)
        return len(due)

    async def run_once(self) -> int:
        now = utcnow()
        notices = await off_loop(self.check_due, now)
        await self.billing.delivery.deliver(notices)
        return len(notices) + await off_loop(self.cancel_due, now)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception:  # outlive a bad pass (database locked, Stripe down)
                log.exception("billing check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="bot-billing-check")

    async def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, timeout_s)
        except TimeoutError:
            log.warning("billing check still busy after %.0f s; cancelled (it runs again at the next start)", timeout_s)
