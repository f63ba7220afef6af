"""The billing wing assembled: the Stripe gateway (None when billing is off), the change applier, the webhook's
event handler and the conversation's commands, sharing one store and the outbox delivery."""

from __future__ import annotations

from dataclasses import dataclass

from bot.billing.changes import Changes
from bot.billing.checkout import StripeGateway
from bot.billing.commands import BillingCommands
from bot.billing.events import BillingEvents
from bot.channel.delivery import Delivery
from bot.settings import BotSettings
from bot.storage.protocols import BillingBotStore


@dataclass
class Billing:
    settings: BotSettings
    store: BillingBotStore
    delivery: Delivery
    gateway: StripeGateway | None
    changes: Changes
    commands: BillingCommands
    events: BillingEvents | None  # None: billing off

    @classmethod
    def create(
        cls, settings: BotSettings, store: BillingBotStore, delivery: Delivery, gateway: StripeGateway | None = None
    ) -> Billing:
        gateway = gateway or StripeGateway.from_settings(settings)
        changes = Changes(settings, store)
        events = BillingEvents(changes, store, gateway) if gateway else None
        return cls(settings, store, delivery, gateway, changes, BillingCommands(settings, store, gateway), events)
