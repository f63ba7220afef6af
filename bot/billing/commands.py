"""What the conversation answers to "upgrade", "billing" and "cancel subscription": our signed links to Stripe
Checkout and the Customer Portal (`bot.billing.links`). No Stripe call here: the conversation runs inside a database
transaction, and a Stripe outage must not hold it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.billing import wording
from bot.billing.checkout import StripeGateway
from bot.billing.entitlements import LIVE
from bot.billing.links import signed_link
from bot.coach.commands import BILLING_COMMANDS
from bot.coach.wording import upgrade_nudge
from bot.settings import BotSettings
from bot.storage.protocols import BillingBotStore, SubscriptionRecord
from bot.storage.records import UserRecord


@dataclass
class BillingCommands:
    settings: BotSettings
    store: BillingBotStore
    gateway: StripeGateway | None  # None: billing off

    def reply(self, command: str, user: UserRecord, arg: str, now: datetime) -> str:
        if command not in BILLING_COMMANDS:
            raise ValueError(f"not a billing command: {command!r}; known: {BILLING_COMMANDS}")
        if self.gateway is None:
            return wording.PAYMENTS_OFF
        sub = self.store.subscription(user.id)
        live = sub if sub is not None and sub.status in LIVE and sub.stripe_customer_id else None
        if command == "upgrade":
            return self._upgrade(user, arg, live, now)
        if command == "billing":
            customer = sub.stripe_customer_id if sub else None
            return wording.portal(self._link("portal", user, now)) if customer else wording.NO_SUBSCRIPTION
        if live is None or not live.stripe_subscription_id:
            return wording.NOTHING_TO_CANCEL
        if live.cancel_at is not None:
            return wording.already_cancelled(live.tier, wording.on_day(live.cancel_at, user.timezone))
        return wording.cancel(live.tier, self._link("cancel", user, now))

    def checkout_link(self, user: UserRecord, tier: str, now: datetime) -> str | None:
        if self.gateway is None or tier not in self.settings.stripe_price_ids:
            return None
        return self._link("checkout", user, now, tier)

    def _link(self, action: str, user: UserRecord, now: datetime, tier: str = "") -> str:
        key, ttl = self.gateway.reference_key, self.settings.billing_link_ttl_s
        return signed_link(self.settings.public_url, key, action, user.id, now, ttl, tier)

    def _upgrade(self, user: UserRecord, arg: str, live: SubscriptionRecord | None, now: datetime) -> str:
        if live is not None:  # a second subscription would bill twice: change this one in the Portal
            return wording.manage(live.tier, self._link("portal", user, now))
        tiers = self.settings.tiers
        mine = tiers.get(user.tier, tiers[self.settings.default_tier]).photos_per_day
        priced = [name for name in self.settings.stripe_price_ids if name in tiers]
        asked = arg.strip().lower()
        if asked and asked not in priced:
            return wording.unknown_tier(asked, priced)
        better = [name for name in priced if tiers[name].photos_per_day > mine and asked in ("", name)]
        if not better:
            return wording.top_tier(user.tier)
        better.sort(key=lambda name: tiers[name].photos_per_day)
        return upgrade_nudge([(name, tiers[name], self._link("checkout", user, now, name)) for name in better])
