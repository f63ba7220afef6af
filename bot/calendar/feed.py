"""The ICS feed: `GET /calendar/{token}.ics`, the person's planned week as a calendar any client subscribes to
(Google, Apple, Outlook). The token is an HMAC of the person and the feed's generation: only its sha256 is stored,
and "stop calendar" raises the generation, so the old link is a 404 and the next one is new.

Each plan version published counts as one calendar sync (`Ledger.reserve_calendar_sync`); past the month's
allowance the feed keeps the check-in but not the new plan's events, and says why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from icalendar import Alarm, Calendar, Event

from bot.calendar.week import Moment, meal_times, uid, week_moments
from bot.ledger import Ledger
from bot.settings import BotSettings
from bot.storage.protocols import CalendarBotStore, off_loop
from bot.storage.records import PlanRecord, UserRecord, utcnow

log = logging.getLogger(__name__)
router = APIRouter()
FEED_PATH = "/calendar/{token}.ics"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{40,64}")
PRODID = "-//plate-coach//meal plan calendar//EN"


def feed_key(settings: BotSettings) -> bytes:
    key = settings.calendar_link_key.get_secret_value() or settings.twilio_auth_token.get_secret_value()
    if not key:
        raise ValueError("no key for calendar links: set BOT_CALENDAR_LINK_KEY (or BOT_TWILIO_AUTH_TOKEN)")
    return key.encode()


def feed_token(settings: BotSettings, user_id: int, generation: int) -> str:
    mac = hmac.new(feed_key(settings), f"calendar-feed|{user_id}|{generation}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(settings: BotSettings, token: str) -> str:
    return settings.public_url + FEED_PATH.format(token=token)


def plan_version(plan: PlanRecord) -> str:
    return f"{plan.id}@{plan.updated_at:%Y%m%dT%H%M%S%f}"


def _event(moment: Moment, zone: ZoneInfo, stamp: datetime, sequence: int) -> Event:
    event = Event()
    start = datetime.combine(moment.day, moment.start).replace(tzinfo=zone)
    event.add("uid", moment.uid)
    event.add("dtstamp", stamp.replace(tzinfo=ZoneInfo("UTC")))
    event.add("last-modified", stamp.replace(tzinfo=ZoneInfo("UTC")))
    event.add("sequence", sequence)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=moment.minutes))
    event.add("summary", moment.summary)
    if moment.description:
        event.add("description", moment.description)
    event.add("categories", [moment.kind])
    if moment.alarm_min is not None:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", moment.summary)
        alarm.add("trigger", timedelta(minutes=-moment.alarm_min))
        event.add_component(alarm)
    return event


def build_calendar(
    user: UserRecord, plan: PlanRecord | None, settings: BotSettings, learned: dict, minutes_of, synced: bool = True
) -> bytes:
    """The feed of `user`'s current plan (or, unsynced, only its check-in and a note) in their own zone."""
    zone = ZoneInfo(user.timezone)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "Meal plan")
    cal.add("x-wr-timezone", user.timezone)
    cal.add("refresh-interval", timedelta(hours=6), parameters={"VALUE": "DURATION"})
    if plan is not None:
        moments = week_moments(user.id, plan, settings, meal_times(settings, learned), minutes_of)
        stamp = plan.updated_at
        sequence = (
            int(stamp.replace(tzinfo=ZoneInfo("UTC")).timestamp()) // 60
        )  # grows with each edit: clients take the new version
        for moment in moments:
            if synced or moment.kind == "checkin":
                cal.add_component(_event(moment, zone, stamp, sequence))
        if not synced:
            note = Event()
            note.add("uid", uid(user.id, plan.week_start, plan.start_day, "limit"))
            note.add("dtstamp", utcnow().replace(tzinfo=ZoneInfo("UTC")))
            note.add("dtstart", datetime.fromisoformat(plan.start_day).date())
            note.add("summary", "New meal plan not synced: this month's calendar syncs are used up")
            cal.add_component(note)
    cal.add_missing_timezones()
    return cal.to_ical()


class Feeds:
    """The feed's own logic, apart from the route: which person a token names, and their calendar."""

    def __init__(self, store: CalendarBotStore, settings: BotSettings, ledger: Ledger, minutes_of):
        self.store, self.settings, self.ledger, self.minutes_of = store, settings, ledger, minutes_of

    def link(self, user: UserRecord, now: datetime) -> str:
        """The person's feed URL (the same one again until it is revoked)."""
        person = self.store.calendar_person(user.id)
        token = feed_token(self.settings, user.id, person.feed_generation)
        if person.feed_token_sha256 != token_hash(token):
            self.store.set_feed(user.id, token_hash(token), now)
        return feed_url(self.settings, token)

    def revoke(self, user: UserRecord, now: datetime) -> bool:
        if self.store.calendar_person(user.id).feed_token_sha256 is None:
            return False
        self.store.set_feed(user.id, None, now)
        return True

    def render(self, token: str, now: datetime) -> bytes | None:
        """The calendar the token names, or None (unknown or revoked)."""
        user_id = self.store.feed_owner(token_hash(token))
        if user_id is None:
            return None
        user = self.store.get_user(user_id)
        plan = self.store.latest_plan(user_id)
        synced = True
        if plan is not None:
            with self.store.unit_of_work():
                person = self.store.calendar_person(user_id)
                version = plan_version(plan)
                if person.synced_plan != version:
                    synced = self.ledger.reserve_calendar_sync(user, now) is None
                    if synced:
                        # only while this token is still theirs: a revoke racing this fetch stays revoked
                        self.store.feed_synced(user_id, token_hash(token), version, now)
        learned = self.store.personal_preferences(user_id)
        return build_calendar(user, plan, self.settings, learned, self.minutes_of, synced)


@router.get(FEED_PATH)
async def calendar_feed(token: str, request: Request) -> Response:
    feeds: Feeds | None = getattr(request.app.state, "feeds", None)
    body = await off_loop(feeds.render, token, utcnow()) if feeds is not None and _TOKEN.fullmatch(token) else None
    if body is None:
        return PlainTextResponse("No such calendar.", status_code=404)
    headers = {"Cache-Control": "private, max-age=900", "Referrer-Policy": "no-referrer"}
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
