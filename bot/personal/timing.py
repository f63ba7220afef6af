"""The person's learned meal times, for whatever follows them (reminders): `learned_meal_times(store, user_id)`.
Read-only; the learning is `signals.meal_logged`, from the local time of every meal logged."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from bot.storage.protocols import BotStore
from nutrition.personalization.preferences import UserPreferences

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MealTime:
    """When the person usually eats `slot`, on their own clock (their profile's timezone), and how sure (0..1:
    n / (n + 3) after n meals logged in that slot, so 0.5 after 3, 0.77 after 10)."""

    slot: str  # breakfast, lunch, snack, dinner
    at: dt.time
    confidence: float
    updated: str  # ISO-8601 UTC of the last meal that moved it


def learned_meal_times(store: BotStore, user_id: int, min_confidence: float = 0.0) -> dict[str, MealTime]:
    """{slot: MealTime} of the slots learned at least `min_confidence` sure; {} when none (nothing logged yet, or
    the stored preferences unreadable, which is logged). Reset by "reset meal times"."""
    try:
        prefs = UserPreferences.from_dict(store.personal_preferences(user_id))
    except ValueError:
        log.exception("unreadable personal preferences of user %s: no meal times", user_id)
        return {}
    out = {}
    for slot, learned in prefs.meal_times.items():
        hours, minutes = map(int, str(learned.value).split(":"))
        if learned.confidence >= min_confidence:
            out[slot] = MealTime(slot, dt.time(hours, minutes), learned.confidence, learned.updated)
    return out
