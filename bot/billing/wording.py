"""What billing tells people: answers to upgrade / billing / cancel subscription, and a notice on each change of
their subscription. ASCII only (GSM-7 for SMS)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.coach.wording import PAYMENTS_OFF as PAYMENTS_OFF  # re-exported: said by both wings
from bot.coach.wording import tier_gives
from bot.settings import TierLimits

UNAVAILABLE = "I couldn't reach the payment service just now. Please try again in a few minutes."
NO_SUBSCRIPTION = "You don't have a subscription. Send upgrade to see the plans."
NOTHING_TO_CANCEL = "You have no subscription to cancel."


def on_day(at: datetime, timezone: str) -> str:
    """A stored (naive UTC) time as the person's local day, e.g. 'Dec 5'."""
    local = at.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone))
    return f"{local:%b} {local.day}"


def top_tier(tier: str) -> str:
    return f"You're on {tier}, the top plan. Send billing to manage it."


def unknown_tier(asked: str, tiers: list[str]) -> str:
    return f"There's no {asked!r} plan; the plans are {', '.join(tiers)}."


def manage(tier: str, url: str) -> str:
    return f"You're subscribed to {tier}. Change your plan or card, or cancel, here: {url}"


def portal(url: str) -> str:
    return f"Manage your subscription (plan, card, invoices, cancel): {url}"


def cancel(tier: str, url: str) -> str:
    return f"To cancel your {tier} plan, confirm here: {url} (you keep it until the end of the period paid for)."


def already_cancelled(tier: str, day: str) -> str:
    return f"Your {tier} plan is already cancelled: you keep it until {day}. Send billing to resume it."


# notices, one per change: `notice(change, ...)` picks the words
def notice(change: str, tier: str, limits: TierLimits, free: str, until: datetime | None, timezone: str) -> str:
    when = on_day(until, timezone) if until else "the end of the period"
    texts = {
        "activated": f"Thanks! Your {tier} plan is active: {tier_gives(limits)}. Send billing to manage it.",
        "changed": f"Your plan is now {tier}: {tier_gives(limits)}.",
        "payment_failed": f"Your last payment didn't go through. You keep {tier} until {when}; "
        "send billing to update your card.",
        "payment_recovered": f"Payment received, thanks: your {tier} plan continues.",
        "cancel_scheduled": f"Your {tier} plan is cancelled: you keep it until {when}, then you're on the {free} plan. "
        "Send billing to resume it.",
        "resumed": f"Your {tier} plan is no longer cancelled: it continues.",
        "payment_lapsed": f"The payment didn't come through, so you're now on the {free} plan "
        f"({tier_gives(limits)}). Send upgrade to subscribe again.",
        "ended": f"Your plan has ended; you're on the {free} plan ({tier_gives(limits)}). "
        "Send upgrade to subscribe again.",
    }
    return texts[change]
