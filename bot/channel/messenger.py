"""The Twilio REST API (blocking: call it from a thread), optionally at another base URL: send a message (the
slow path and retries), look up one we sent (after a crash), delete a message's media (a person's hard delete)."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from datetime import UTC, datetime

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"


class DeliveryFailed(Exception):
    """The Messages API did not accept the message."""


class LookupFailed(DeliveryFailed):
    """The Messages API could not be asked which messages we sent (a delivery failure: the send waits on it)."""


class MediaDeletionFailed(Exception):
    """A message's media could not be listed or deleted at Twilio."""


def _status(exc: TwilioException) -> int | None:
    """The HTTP status of a failed call: a REST error carries it; a page that failed to load carries the response."""
    if isinstance(exc, TwilioRestException):
        return exc.status
    response = exc.args[1] if len(exc.args) > 1 else None
    return getattr(response, "status_code", None)


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
    """A thin wrapper of `twilio.rest.Client().messages`."""

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
        self.account_sid = account_sid
        self.sender = sender

    def _sender(self, to: str, from_: str) -> str:
        sender = self.sender or from_
        if to.startswith("whatsapp:") and not sender.startswith("whatsapp:"):
            sender = "whatsapp:" + sender
        return sender

    def send(self, to: str, from_: str, body: str) -> str:
        """Send `body` to `to` and return the new message's SID."""
        try:
            message = self.client.messages.create(to=to, from_=self._sender(to, from_), body=body)
        except (TwilioException, OSError) as exc:
            raise DeliveryFailed(f"Messages API refused or unreachable: {exc}") from exc
        return message.sid

    def send_template(self, to: str, from_: str, content_sid: str, variables: dict[str, str]) -> str:
        """Send the approved template `content_sid` (WhatsApp, outside the 24-hour window) with its variables
        ({"1": ...}); the new message's SID."""
        try:
            message = self.client.messages.create(
                to=to, from_=self._sender(to, from_), content_sid=content_sid, content_variables=json.dumps(variables)
            )
        except (TwilioException, OSError) as exc:
            raise DeliveryFailed(f"Messages API refused or unreachable (template {content_sid}): {exc}") from exc
        return message.sid

    def find_sent(self, to: str, from_: str, body: str, since: datetime, exclude: Collection[str] = ()) -> str | None:
        """The SID of a message `send(to, from_, body)` created on or after `since` (naive means UTC), or None;
        `exclude`: SIDs known to be other replies (the same words sent twice are two messages).

        Twilio filters by the day only: the body and the time are checked here, the time to the second (Twilio's
        timestamps have no finer grain), so a message of the same second before `since` counts as sent."""
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
        try:
            found = self.client.messages.list(to=to, from_=self._sender(to, from_), date_sent_after=since)
        except (TwilioException, OSError) as exc:
            raise LookupFailed(f"Messages API list since {since:%Y-%m-%d} failed: {exc}") from exc
        floor = since.replace(microsecond=0)
        matches = []
        for message in found:
            # a queued message has no date_sent yet: its creation is when we handed it over
            at = message.date_created or message.date_sent
            if message.body == body and isinstance(at, datetime) and at >= floor and message.sid not in exclude:
                matches.append((at, message.sid))
        # the earliest: of two replies in the same words (two "help"s), the first one asked about takes the first
        # message, and the second one's lookup (from a later `since`, the first's SID excluded) finds the second
        return min(matches)[1] if matches else None

    def delete_media(self, message_sid: str) -> int:
        """Delete every media file of message `message_sid` at Twilio; how many were deleted. A message or media
        file already gone (404) is no failure."""
        if not self.account_sid:  # the URL would name no account, and its 404 would read as "already gone"
            raise MediaDeletionFailed(f"no Twilio account SID configured to delete the media of {message_sid}")
        media = self.client.messages(message_sid).media
        try:
            files = media.list()
        except TwilioException as exc:
            if _status(exc) == 404:
                return 0
            raise MediaDeletionFailed(f"listing the media of {message_sid} failed (HTTP {_status(exc)})") from exc
        except OSError as exc:
            raise MediaDeletionFailed(f"listing the media of {message_sid} failed: {exc}") from exc
        deleted = 0
        for file in files:
            try:
                file.delete()
            except TwilioException as exc:
                if _status(exc) == 404:
                    continue
                raise MediaDeletionFailed(
                    f"deleting media {file.sid} of {message_sid} failed (HTTP {_status(exc)})"
                ) from exc
            except OSError as exc:
                raise MediaDeletionFailed(f"deleting media {file.sid} of {message_sid} failed: {exc}") from exc
            deleted += 1
        return deleted
