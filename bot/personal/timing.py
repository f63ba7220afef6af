"""The person's learned meal times, for whatever follows them (reminders): `learned_meal_times(store, user_id)`.
Read-only; the learning is `signals.meal_logged`, from the local time of every meal logged."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
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


def meal_times_of(learned: Mapping | None, min_confidence: float = 0.0) -> dict[str, MealTime]:
    """{slot: MealTime} of the stored preferences `learned` (`store.personal_preferences`), the slots learned at
    least `min_confidence` sure; a slot whose stored time is malformed is left out. ValueError: unreadable."""
    prefs = UserPreferences.from_dict(learned or {})
    out = {}
    for slot, value in prefs.meal_times.items():
        hours, sep, minutes = str(value.value).partition(":")
        if value.confidence < min_confidence or not sep or not hours.isdigit() or not minutes.isdigit():
            continue
        try:
            out[slot] = MealTime(slot, dt.time(int(hours), int(minutes)), value.confidence, value.updated)
        except ValueError:  # 25:00
            continue
    return out


def learned_meal_times(store: BotStore, user_id: int, min_confidence: float = 0.0) -> dict[str, MealTime]:
    """{slot: MealTime} of the slots learned at least `min_confidence` sure; {} when none (nothing logged yet, or
    the stored preferences unreadable, which is logged). Reset by "reset meal times"."""
    try:
        return meal_times_of(store.personal_preferences(user_id), min_confidence)
    except ValueError:
        log.exception("unreadable personal preferences of user %s: no meal times", user_id)
        return {}
