"""Which messages to send when, and what they say: the jobs of a plan's week (cooking reminders, the plan-ready
notice, the weekly check-in), each keyed so that planning it again changes nothing, and its words at send time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.calendar import wording
from bot.calendar.times import after_quiet_hours, clock, local, to_utc
from bot.calendar.week import checkin_day, meal_times, week_moments
from bot.coach.advisor import targets_of
from bot.settings import BotSettings
from bot.storage.protocols import CalendarBotStore
from bot.storage.records import JobRecord, PlanRecord, UserRecord

log = logging.getLogger(__name__)
CHECKIN, COOKING, PLAN_READY, NOTICE = "checkin", "cooking", "plan_ready", "notice"
KEEP_CHECKING_DAYS = 14  # no more check-ins for someone silent this long


@dataclass(frozen=True)
class Message:
    """What a job sends: free text, and the same as a WhatsApp template's variables (outside the 24 h window)."""

    text: str
    variables: dict[str, str]


class Reminders:
    def __init__(self, store: CalendarBotStore, settings: BotSettings, minutes_of: Callable[[str], int | None]):
        self.store = store
        self.settings = settings
        self.minutes_of = minutes_of

    def _due(self, at_utc: datetime, timezone: str) -> datetime:
        s = self.settings
        return after_quiet_hours(at_utc, timezone, s.quiet_hours_start, s.quiet_hours_end)

    def plan_jobs(self, plan: PlanRecord, now: datetime) -> int:
        """Schedule the future jobs of `plan`'s week (blocking); a re-planned week moves or cancels its pending
        cooking reminders. How many were added."""
        user = self.store.get_user(plan.user_id)
        if user.opted_out:
            return 0
        zone, s = user.timezone, self.settings
        times = meal_times(s, self.store.personal_preferences(user.id))
        prefix = f"{COOKING}:{user.id}:{plan.week_start}:"
        wanted: dict[str, tuple[str, datetime, dict]] = {}
        for moment in week_moments(user.id, plan, s, times, self.minutes_of):
            if moment.kind == "cooking":
                at = moment.starts_utc(zone) - timedelta(minutes=moment.alarm_min or 0)
                key = f"{prefix}{moment.day.isoformat()}:{moment.slot}"
                ready = times[moment.slot].strftime("%H:%M")
                payload = {"recipe": moment.recipe, "ready_at": ready, "minutes": moment.minutes}
                wanted[key] = (COOKING, at, payload)
        start = date.fromisoformat(plan.start_day)
        if start > local(plan.created_at, zone).date():  # made ahead: tell them the morning it starts
            key = f"{PLAN_READY}:{user.id}:{plan.week_start}"
            wanted[key] = (PLAN_READY, to_utc(start, clock(s.plan_ready_time), zone), {"week_start": plan.week_start})
        added = 0
        with self.store.unit_of_work():
            for key, (kind, at, payload) in wanted.items():
                if at > now:
                    added += self.store.schedule_job(key, user.id, kind, self._due(at, zone), payload, now)
            self.store.cancel_jobs(user.id, prefix, set(wanted), now)
            added += self.schedule_checkin(user, date.fromisoformat(plan.week_start), now)
        return added

    def schedule_checkin(self, user: UserRecord, week_start: date, now: datetime) -> bool:
        """The check-in of the local week starting `week_start` (the next week's if that one's is past)."""
        at = to_utc(checkin_day(week_start, self.settings), clock(self.settings.checkin_time), user.timezone)
        if at <= now:
            week_start += timedelta(days=7)
            at = to_utc(checkin_day(week_start, self.settings), clock(self.settings.checkin_time), user.timezone)
        key = f"{CHECKIN}:{user.id}:{week_start.isoformat()}"
        payload = {"week_start": week_start.isoformat()}
        return self.store.schedule_job(key, user.id, CHECKIN, self._due(at, user.timezone), payload, now)

    def compose(self, job: JobRecord, user: UserRecord, now: datetime) -> Message | None:
        """The words of `job` now; None when there is nothing to say (the plan is gone)."""
        p = job.payload
        if job.kind == COOKING:
            minutes = int(p.get("minutes") or 30)
            text = wording.cooking(p["recipe"], p["ready_at"], minutes)
            return Message(text, {"1": p["recipe"], "2": p["ready_at"]})
        if job.kind == PLAN_READY:
            plan = self.store.latest_plan(user.id)
            if plan is None or plan.week_start != p.get("week_start"):
                return None
            first = next((m["name"] for d in plan.plan.get("days", [])[:1] for m in d["meals"]), None)
            return Message(wording.plan_ready(first), {"1": first or ""})
        if job.kind == CHECKIN:
            return self._checkin(user, now)
        if job.kind == NOTICE:  # words decided when it was queued (Google Calendar disconnected)
            return Message(p["text"], {"1": p["text"]})
        raise ValueError(f"unknown job kind {job.kind!r} of job {job.key}")

    def _checkin(self, user: UserRecord, now: datetime) -> Message:
        today = local(now, user.timezone).date()
        totals = [self.store.day_totals(user.id, (today - timedelta(days=i)).isoformat()) for i in range(7)]
        logged = [t for t in totals if t.meals]
        meals = sum(t.meals for t in logged)
        kcal = sum(t.kcal for t in logged) / len(logged) if logged else None
        profile = self.store.get_profile(user.id)
        target = targets_of(profile).kcal if profile.goal else None
        text = wording.checkin(meals, len(logged), kcal, target)
        return Message(text, {"1": str(meals), "2": str(len(logged)), "3": f"{kcal:,.0f}" if kcal else "0"})

    def after_sent(self, job: JobRecord, user: UserRecord, now: datetime) -> None:
        """A check-in sent schedules the next week's, while the person wrote in the last `KEEP_CHECKING_DAYS`."""
        last = self.store.last_inbound(user.id)
        if job.kind == CHECKIN and not user.opted_out and last and now - last.at < timedelta(days=KEEP_CHECKING_DAYS):
            self.schedule_checkin(user, date.fromisoformat(job.payload["week_start"]) + timedelta(days=7), now)
