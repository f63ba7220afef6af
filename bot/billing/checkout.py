"""The Stripe API calls the bot makes, on the real `stripe` client: Checkout and Customer Portal links, a
subscription read back, a deleted person's subscription cancelled. Blocking: run them off the loop.

Stripe never sees a phone number: the person is named by `person_ref`, their database id with a keyed hash of
their phone, so an id reused after a deletion (SQLite may) never matches the new person.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

import requests
import stripe

from bot.settings import BotSettings
from bot.storage.records import UserRecord

log = logging.getLogger(__name__)
PERSON_KEY = "person"  # metadata key of the person reference, on the Checkout Session and the subscription
RETURN_PATH = "/billing/return"  # where Checkout and the Portal send people back (a short page of ours)


class BillingUnavailable(RuntimeError):
    """Stripe could not be reached or refused the call; the message says which call, without personal data."""


def person_ref(user: UserRecord, key: bytes) -> str:
    """`{user id}-{HMAC-SHA256(key, phone), 20 hex}`: opaque to Stripe, checkable by us."""
    digest = hmac.new(key, user.phone.encode(), hashlib.sha256).hexdigest()[:20]
    return f"{user.id}-{digest}"


def ref_user_id(ref: str | None) -> int | None:
    """The user id a person reference claims (check it with `person_ref` against that user)."""
    head, _, digest = (ref or "").partition("-")
    return int(head) if head.isdigit() and digest else None


@dataclass
class StripeGateway:
    client: stripe.StripeClient
    settings: BotSettings

    @classmethod
    def from_settings(cls, settings: BotSettings) -> StripeGateway | None:
        """The gateway, or None when no secret key is configured (billing off)."""
        key = settings.stripe_secret_key.get_secret_value()
        if not key:
            return None
        session = requests.Session()
        session.trust_env = False  # our own hop: no proxy from the environment
        client = stripe.StripeClient(
            key,
            base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
            http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_s, session=session),
            max_network_retries=2,
        )
        return cls(client, settings)

    @property
    def reference_key(self) -> bytes:
        key = (
            self.settings.billing_reference_key.get_secret_value() or self.settings.stripe_secret_key.get_secret_value()
        )
        return key.encode()

    def ref(self, user: UserRecord) -> str:
        return person_ref(user, self.reference_key)

    def _return_url(self, configured: str | None) -> str:
        return configured or self.settings.public_url + RETURN_PATH

    def checkout_url(self, user: UserRecord, tier: str, customer_id: str | None = None) -> str:
        """A Checkout Session for `tier`'s price; the person's reference on the session and on the subscription."""
        price = self.settings.stripe_price_ids.get(tier)
        if not price:
            raise BillingUnavailable(f"no Stripe price configured for tier {tier!r} (BOT_STRIPE_PRICE_IDS)")
        ref = self.ref(user)
        params: dict = {
            "mode": "subscription",
            "line_items": [{"price": price, "quantity": 1}],
            "client_reference_id": ref,
            "metadata": {PERSON_KEY: ref, "tier": tier},
            "subscription_data": {"metadata": {PERSON_KEY: ref, "tier": tier}},
            "success_url": self._return_url(self.settings.checkout_success_url),
            "cancel_url": self._return_url(self.settings.checkout_cancel_url),
        }
        if customer_id:
            params["customer"] = customer_id  # one Stripe customer per person, however often they subscribe
        return self._call("create a Checkout Session", self.client.v1.checkout.sessions.create, params).url

    def portal_url(self, customer_id: str, cancel_subscription: str | None = None) -> str:
        """A Customer Portal session; with `cancel_subscription`, it opens on that subscription's cancellation."""
        params: dict = {"customer": customer_id, "return_url": self._return_url(self.settings.checkout_success_url)}
        if cancel_subscription:
            params["flow_data"] = {
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": cancel_subscription},
            }
        return self._call("create a Portal session", self.client.v1.billing_portal.sessions.create, params).url

    def subscription(self, subscription_id: str) -> dict | None:
        """The subscription as Stripe has it now (plain data), None if Stripe has no such subscription."""
        try:
            found = self.client.v1.subscriptions.retrieve(subscription_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise BillingUnavailable(f"retrieve subscription {subscription_id}: {exc.user_message}") from exc
        except stripe.StripeError as exc:
            raise BillingUnavailable(f"retrieve subscription {subscription_id}: {exc.user_message or exc}") from exc
        return found.to_dict()

    def cancel(self, subscription_id: str) -> None:
        """Cancel now (a deleted person's); one already cancelled or gone counts as done."""
        try:
            self.client.v1.subscriptions.cancel(subscription_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404 and exc.code != "resource_missing":
                raise BillingUnavailable(f"cancel subscription {subscription_id}: {exc.user_message}") from exc
        except stripe.StripeError as exc:
            raise BillingUnavailable(f"cancel subscription {subscription_id}: {exc.user_message or exc}") from exc

    @staticmethod
    def _call(what: str, method, params: dict):
        try:
            return method(params)
        except stripe.StripeError as exc:
            log.error("Stripe refused to %s: %s %s", what, exc.http_status, exc.code)
            raise BillingUnavailable(f"{what}: {exc.user_message or exc.code or exc}") from exc
