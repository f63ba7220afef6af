"""The moments of a person's planned week, in their own zone: grocery shopping and meal prep the day before the
plan starts, cooking each planned meal (timed to end at the person's meal time), the weekly check-in. The ICS
feed shows them; the scheduler turns the future ones into messages."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.calendar.times import clock, to_utc
from bot.personal.timing import meal_times_of
from bot.settings import BotSettings
from bot.storage.records import PlanRecord

log = logging.getLogger(__name__)
SHOPPING_MIN, PREP_MIN, CHECKIN_MIN = 60, 90, 15


@dataclass(frozen=True)
class Moment:
    kind: str  # shopping, prep, cooking, checkin
    uid: str  # stable: the same person, week, day and kind give the same one, so an update replaces it
    day: date  # local
    start: time  # local wall clock
    minutes: int
    summary: str
    description: str = ""
    alarm_min: int | None = None  # a reminder this long before (cooking)
    slot: str | None = None
    recipe: str | None = None

    def starts_utc(self, timezone: str) -> datetime:
        return to_utc(self.day, self.start, timezone)


def uid(user_id: int, week_start: str, day: str, kind: str) -> str:
    """Opaque and stable: it names no one, and a re-planned week keeps it."""
    digest = hashlib.sha256(f"{user_id}|{week_start}|{day}|{kind}".encode()).hexdigest()[:32]
    return f"{digest}@plate-coach"


def meal_times(settings: BotSettings, learned: Mapping | None) -> dict[str, time]:
    """slot → local meal time: what the personal wing learned (confident enough), else the settings' defaults."""
    times = {slot: clock(value) for slot, value in settings.meal_times.items()}
    times.update({slot: m.at for slot, m in meal_times_of(learned, settings.meal_time_min_confidence).items()})
    return times


def checkin_day(week_start: date, settings: BotSettings) -> date:
    return week_start + timedelta(days=settings.checkin_weekday)


def week_moments(
    user_id: int,
    plan: PlanRecord,
    settings: BotSettings,
    times: Mapping[str, time],
    minutes_of: Callable[[str], int | None],
) -> list[Moment]:
    """Every moment of `plan`'s week (past ones too)."""
    start = date.fromisoformat(plan.start_day)
    eve = (start - timedelta(days=1)).isoformat()
    week = plan.week_start
    days = plan.plan.get("days", [])
    dishes = sorted({m["name"] for d in days for m in d["meals"] if m["slot"] in settings.cooking_reminder_slots})
    moments = [
        Moment(
            "shopping",
            uid(user_id, week, eve, "shopping"),
            start - timedelta(days=1),
            clock(settings.shopping_time),
            SHOPPING_MIN,
            "Grocery shopping for the week's plan",
            'Send "shopping list" to the bot for the shopping list.',
        ),
        Moment(
            "prep",
            uid(user_id, week, eve, "prep"),
            start - timedelta(days=1),
            clock(settings.prep_time),
            PREP_MIN,
            "Meal prep",
            "Get ahead on the week: " + ", ".join(dishes[:6]) if dishes else "Get ahead on the week's meals.",
        ),
    ]
    for planned in days:
        day = start + timedelta(days=int(planned["index"]))
        for meal in planned["meals"]:
            slot = meal["slot"]
            if slot not in settings.cooking_reminder_slots or slot not in times:
                continue
            minutes = minutes_of(meal["recipe_id"]) or 30
            eat = datetime.combine(day, times[slot])
            begin = eat - timedelta(minutes=minutes)
            moments.append(
                Moment(
                    "cooking",
                    uid(user_id, week, day.isoformat(), f"cooking-{slot}"),
                    begin.date(),
                    begin.time(),
                    minutes,
                    f"Cook: {meal['name']}",
                    f"{meal['name']} for {slot} ({minutes} min), ready at {times[slot]:%H:%M}.",
                    alarm_min=settings.cooking_lead_min,
                    slot=slot,
                    recipe=meal["name"],
                )
            )
    checkin = checkin_day(date.fromisoformat(week), settings)
    moments.append(
        Moment(
            "checkin",
            uid(user_id, week, checkin.isoformat(), "checkin"),
            checkin,
            clock(settings.checkin_time),
            CHECKIN_MIN,
            "Weekly check-in with your nutrition coach",
            "How did this week go? The bot sends your week's numbers.",
        )
    )
    return moments


class RecipeMinutes:
    """recipe id → minutes to cook, read from the catalogue's YAML once, when first asked (None: unknown)."""

    def __init__(self, directory):
        self.directory = directory
        self._minutes: dict[str, int] | None = None

    def __call__(self, recipe_id: str) -> int | None:
        if self._minutes is None:
            from nutrition.planning.recipes import CatalogueError, load_recipes

            try:
                self._minutes = {r.id: r.minutes for r in load_recipes(self.directory)}
            except (CatalogueError, OSError) as exc:
                log.warning("recipe minutes unknown (%s): cooking reminders assume 30 min", exc)
                self._minutes = {}
        return self._minutes.get(recipe_id)
