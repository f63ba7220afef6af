"""What a Twilio message webhook carries: `Inbound.from_form`, and who sent it (`phone_of`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.storage.records import MediaRef


class BadWebhook(ValueError):
    """The form lacks what every Twilio message webhook carries."""


@dataclass(frozen=True)
class Inbound:
    sid: str
    from_addr: str
    to_addr: str
    body: str
    media: tuple[MediaRef, ...]

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> Inbound:
        missing = [k for k in ("MessageSid", "From", "To") if not form.get(k)]
        if missing:
            raise BadWebhook(f"webhook form lacks {missing}")
        try:
            count = int(form.get("NumMedia") or 0)
        except ValueError as exc:
            raise BadWebhook(f"NumMedia={form.get('NumMedia')!r} is not a number") from exc
        media = tuple(
            MediaRef(form[f"MediaUrl{i}"], form.get(f"MediaContentType{i}", ""))
            for i in range(min(count, 10))  # Twilio sends at most 10
            if form.get(f"MediaUrl{i}")
        )
        return cls(form["MessageSid"], form["From"], form["To"], form.get("Body", ""), media)


def phone_of(address: str) -> str:
    """'whatsapp:+15550001' and '+15550001' are the same person."""
    return address.split(":", 1)[1] if address.startswith("whatsapp:") else address
