"""Send a message with the Twilio REST API (the slow path and retries), optionally at another base URL."""

from __future__ import annotations

import logging

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"


class DeliveryFailed(Exception):
    """The Messages API did not accept the message."""


class RebasedHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, sending what it would send to api.twilio.com to `base_url` instead."""

    def __init__(self, base_url: str, timeout: float | None = None):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        if self.session is not None:
            self.session.trust_env = False  # a local stand-in must not be sent through a proxy

    def request(self, method, url, *args, **kwargs):
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


class Messenger:
    """A thin wrapper of `twilio.rest.Client().messages.create` (blocking: call it from a thread)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        api_base_url: str | None = None,
        sender: str | None = None,
        timeout_s: float = 10.0,
    ):
        http_client = (
            RebasedHttpClient(api_base_url, timeout_s) if api_base_url else TwilioHttpClient(timeout=timeout_s)
        )
        # environment={} so TWILIO_* variables of the host cannot silently swap the account
        self.client = Client(account_sid, auth_token, http_client=http_client, environment={})
        self.sender = sender

    def send(self, to: str, from_: str, body: str) -> str:
        """Send `body` to `to` and return the new message's SID."""
        sender = self.sender or from_
        if to.startswith("whatsapp:") and not sender.startswith("whatsapp:"):
            sender = "whatsapp:" + sender
        try:
            message = self.client.messages.create(to=to, from_=sender, body=body)
        except (TwilioException, OSError) as exc:
            raise DeliveryFailed(f"Messages API refused or unreachable: {exc}") from exc
        return message.sid
