"""A change of a person's subscription, applied in the caller's unit of work: the record, the tier it entitles to
(`users.tier`, which the ledger reads), a `billing` event, and a notice to the person in the outbox.

The notice row is leased to the caller, who sends it by REST after the commit (`Delivery.deliver`); if the caller
dies first, the delivery worker sends it once the lease expires, as for every reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.billing import wording
from bot.billing.entitlements import PAYING, Entitlement, entitlement
from bot.settings import BotSettings
from bot.storage.protocols import BillingBotStore, SubscriptionRecord
from bot.storage.records import OutboundRecord, UserRecord

log = logging.getLogger(__name__)
NOTICE = "notice"  # the outbox kind of billing notices; their message_sid is "billing-{key}"


def change_of(
    granted: str, before: SubscriptionRecord | None, after: SubscriptionRecord, now_entitled: Entitlement, free: str
) -> str | None:
    """What the person is told about going from `before` (entitled to `granted`) to `after`; None: nothing."""
    tier = now_entitled.tier
    if tier != granted:
        if tier == free:
            return "payment_lapsed" if now_entitled.why == "grace_over" else "ended"
        return "activated" if granted == free else "changed"
    if tier == free or after.comp_tier:
        return None  # the free tier has no payments to speak of; a comped tier does not depend on them
    was_past_due = before is not None and before.status == "past_due"
    if after.status == "past_due" and not was_past_due:
        return "payment_failed"
    if was_past_due and after.status in PAYING:
        return "payment_recovered"
    was_cancelled = before is not None and before.cancel_at is not None
    if after.cancel_at and not was_cancelled:
        return "cancel_scheduled"
    if was_cancelled and not after.cancel_at:
        return "resumed"
    return None


@dataclass(frozen=True)
class Applied:
    change: str | None
    tier_before: str
    tier: str
    notices: tuple[OutboundRecord, ...] = ()


@dataclass
class Changes:
    settings: BotSettings
    store: BillingBotStore

    @property
    def grace(self) -> timedelta:
        return timedelta(days=self.settings.past_due_grace_days)

    def entitled(self, sub: SubscriptionRecord | None, now: datetime) -> Entitlement:
        return entitlement(sub, now, self.grace, self.settings.default_tier)

    def apply(
        self, user: UserRecord, after: SubscriptionRecord, now: datetime, key: str, source: dict, send: bool = True
    ) -> Applied:
        """Save `after` as the person's subscription and grant what it entitles to now; inside a unit of work.
        `key`: unique to this change (the Stripe event id...), names its notice; `source`: for the event log;
        `send`: the caller sends the notice (leased to it), else the bot's delivery worker does (the admin CLI)."""
        before = self.store.subscription(user.id)
        now_entitled = self.entitled(after, now)
        change = change_of(user.tier, before, after, now_entitled, self.settings.default_tier)
        self.store.save_subscription(after, now)
        if now_entitled.tier != user.tier:
            self.store.set_tier(user.id, now_entitled.tier)
        detail = {
            **source,
            "change": change,
            "tier_before": user.tier,
            "tier": now_entitled.tier,
            "status": after.status,
            "why": now_entitled.why,
        }
        self.store.add_event("billing", now, user_id=user.id, detail=detail)
        notices = ()
        if change is not None:
            until = after.cancel_at if change == "cancel_scheduled" else now_entitled.until
            limits = self.settings.tiers[now_entitled.tier]
            body = wording.notice(change, now_entitled.tier, limits, self.settings.default_tier, until, user.timezone)
            notices = self._queue(user, key, body, now, send)
        return Applied(change, user.tier, now_entitled.tier, notices)

    def _queue(self, user: UserRecord, key: str, body: str, now: datetime, send: bool) -> tuple[OutboundRecord, ...]:
        address = self.store.last_address(user.id)
        if address is None:  # never wrote to us (comped by hand): the configured sender and their number, by SMS
            if not self.settings.twilio_from:
                log.warning("billing notice %s for user %s not queued: no address and no BOT_TWILIO_FROM", key, user.id)
                return ()
            address = (user.phone, self.settings.twilio_from)
        theirs, ours = address
        lease = now + timedelta(seconds=self.settings.lease_s) if send else None
        row = self.store.enqueue_outbound(f"billing-{key}", NOTICE, theirs, ours, body, now, lease, user.id)
        return () if row is None else (row,)
