"""The billing worker, started with the app: every `billing_check_s` it downgrades the paid tiers whose scheduled
cancellation has come or whose grace after a failed payment is over (the person may send nothing meanwhile, and
Stripe's own event may come late), and cancels deleted people's subscriptions at Stripe, with backoff."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.billing.checkout import BillingUnavailable
from bot.billing.service import Billing
from bot.channel.periodic import PeriodicWorker
from bot.photos.meal_analysis import retry_delay
from bot.storage.protocols import off_loop
from bot.storage.records import OutboundRecord, utcnow

log = logging.getLogger(__name__)


class BillingScheduler(PeriodicWorker):
    name, what = "bot-billing-check", "billing check"

    def __init__(self, billing: Billing, poll_s: float):
        super().__init__(poll_s)
        self.billing = billing

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
