"""The calendar wing's messages, as the conversation asks them first (`Conversation(calendar=...)`): "timezone
Europe/Paris", "my time zone is Tokyo", "timezone?", "calendar" (the feed link), "stop calendar", "connect google calendar", "disconnect google"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from bot.calendar import wording
from bot.calendar.feed import Feeds
from bot.calendar.google import GoogleCalendar
from bot.calendar.reminders import Reminders
from bot.calendar.times import local
from bot.calendar.zones import find_zone, parse_zone_command, zone_for_phone
from bot.ledger import Ledger
from bot.storage.protocols import CalendarBotStore
from bot.storage.records import UserRecord

_LINK = re.compile(
    r"^(?:(?:add|put|send|sync)\s+(?:my\s+)?(?:meal\s+)?(?:plan\s+)?(?:to|in|into|with)\s+(?:my\s+)?calendar"
    r"|(?:my\s+)?calendar(?:\s+link)?|ics|ical)$"
)
_GOOGLE = re.compile(
    r"^(?:connect|link|add|sync)\s+(?:to\s+|with\s+)?(?:my\s+)?google(?:\s+calendar)?$|google calendar$"
)
_GOOGLE_OFF = re.compile(r"^(?:disconnect|unlink|remove|stop)\s+(?:my\s+)?google(?:\s+calendar)?$")
_STOP = re.compile(r"^(?:stop|remove|delete|revoke|turn off|disable)\s+(?:my\s+)?calendar(?:\s+link)?|calendar\s+off$")


@dataclass(frozen=True)
class CalendarTurn:
    messages: tuple[str, ...]
    intent: str


def _plain(body: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9/_?' +-]+", " ", body.lower().replace("’", "'"))).strip(" .!")


class CalendarReplies:
    def __init__(
        self,
        store: CalendarBotStore,
        ledger: Ledger,
        feeds: Feeds,
        reminders: Reminders,
        google: GoogleCalendar | None = None,
    ):
        self.store, self.ledger, self.feeds, self.reminders, self.google = store, ledger, feeds, reminders, google

    def handle(self, user: UserRecord, body: str, now: datetime) -> CalendarTurn | None:
        """The reply to a calendar or time zone message; None for any other message (blocking)."""
        said = parse_zone_command(body)
        if said is not None:
            return self._zone(user, said, now)
        plain = _plain(body)
        if _STOP.match(plain):
            done = self.feeds.revoke(user, now)
            return CalendarTurn((wording.CALENDAR_STOPPED if done else wording.CALENDAR_NOT_ON,), "calendar_stop")
        if _LINK.match(plain):
            return self._link(user, now)
        if _GOOGLE_OFF.match(plain):
            done = self.google is not None and self.google.disconnect(user.id, now)
            return CalendarTurn((wording.GOOGLE_OFF if done else wording.GOOGLE_NOT_ON,), "google_disconnect")
        if _GOOGLE.match(plain):
            return self._google(user, now)
        return None

    def zone_question(self, user: UserRecord) -> str | None:
        """The time zone question for a person whose number does not tell their zone (+1 555..., an Australian
        mobile) and who has not told us; None when we know it. The conversation asks it once."""
        if zone_for_phone(user.phone) is not None or self.store.calendar_person(user.id).zone_source == "person":
            return None
        return wording.ASK_ZONE

    def answer_zone(self, user: UserRecord, body: str, now: datetime) -> CalendarTurn | None:
        """The reply to the time zone question ("Chicago", "America/Denver"); None when `body` names no zone (it is
        then read as any other message: a meal, or "my time zone is Tokyo", which `handle` answers)."""
        zone = find_zone(body.strip(" .!"))
        return self._zone(user, zone, now) if zone else None

    def _google(self, user: UserRecord, now: datetime) -> CalendarTurn:
        refused = self._tier_refusal(user)
        if refused is not None:
            return refused
        if self.google is None:
            return CalendarTurn((wording.GOOGLE_NOT_SET_UP,), "google_off")
        return CalendarTurn((wording.google_consent(self.google.consent_url(user)),), "google_connect")

    def _tier_refusal(self, user: UserRecord) -> CalendarTurn | None:
        if self.ledger.limits(user).calendar_syncs_per_month > 0:
            return None
        better = next((name for name, t in self.ledger.settings.tiers.items() if t.calendar_syncs_per_month), None)
        return CalendarTurn((wording.calendar_not_in_tier(user.tier, better),), "calendar_not_in_tier")

    def _zone(self, user: UserRecord, said: str, now: datetime) -> CalendarTurn:
        if not said:
            source = self.store.calendar_person(user.id).zone_source
            if source is None and zone_for_phone(user.phone) == user.timezone:
                source = "phone"  # set on first contact from the number, never stored as told
            return CalendarTurn((wording.zone_is(user.timezone, source, local(now, user.timezone)),), "timezone")
        zone = find_zone(said)
        if zone is None:
            return CalendarTurn((wording.zone_unknown(said),), "timezone_unknown")
        with self.store.unit_of_work():
            user = self.store.set_timezone(user.id, zone, "person", now)
            self._replan(user, now)  # pending reminders move to the new zone's clock
        return CalendarTurn((wording.zone_set(zone, local(now, zone)),), "timezone_set")

    def _replan(self, user: UserRecord, now: datetime) -> None:
        plan = self.store.latest_plan(user.id)
        if plan is not None:
            self.reminders.plan_jobs(plan, now)
        else:
            week = local(now, user.timezone).date()
            self.reminders.schedule_checkin(user, date.fromordinal(week.toordinal() - week.weekday()), now)

    def _link(self, user: UserRecord, now: datetime) -> CalendarTurn:
        refused = self._tier_refusal(user)
        if refused is not None:
            return refused
        url = self.feeds.link(user, now)
        guessed = self.store.calendar_person(user.id).zone_source != "person"
        self._replan(user, now)
        lines = [wording.calendar_link(url, user.timezone, guessed)]
        if self.store.latest_plan(user.id) is None:
            lines.append(wording.NO_PLAN_YET)
        return CalendarTurn(tuple(lines), "calendar_link")
