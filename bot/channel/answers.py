"""What the channel itself answers: TwiML around any reply, the acknowledgement of a slow photo, limit notices."""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.messaging_response import MessagingResponse

from bot.ledger import LimitHit
from bot.settings import TierLimits


def twiml(text: str | Sequence[str] | None) -> str:
    """A TwiML answer with one message (or several, in order), or none."""
    response = MessagingResponse()
    for message in [text] if isinstance(text, str) else text or ():
        if message:
            response.message(message)
    return str(response)


def ack_reply(photos: int) -> str:
    what = "your photo" if photos == 1 else f"your {photos} photos"
    return f"Got {what}, analysing now. I'll send the result in a moment."


def limit_reply(hit: LimitHit, upgrades: Sequence[tuple[str, TierLimits]], upgrade_url: str | None) -> str:
    when = {"hour": "this hour", "day": "today", "month": "this month"}[hit.period]
    if hit.what == "rate":
        text = f"You're sending messages faster than I can keep up ({hit.limit} an hour). Please wait a little."
    elif hit.what == "messages":
        text = f"You've reached the {hit.limit} messages your {hit.tier} plan allows {when}."
    elif hit.what == "cost":  # the daily cost cap (its limit is in cents: not a number to show people)
        text = f"You've reached {when}'s usage allowance of your {hit.tier} plan."
    elif hit.remaining:
        text = f"You have {hit.remaining} photo analyses left {when}; please send fewer photos at once."
    else:
        text = f"You've used the {hit.limit} photo analyses your {hit.tier} plan allows {when}."
    if upgrades and hit.what != "rate":
        name, tier = upgrades[0]
        text += f" The {name} plan gives {tier.pitch}" + (f": {upgrade_url}" if upgrade_url else ".")
    return text
