"""Google Calendar (behind `google_calendar`): "connect google calendar" → Google's consent page (offline access,
a `state` naming the person, HMAC-signed and expiring) → `GET /calendar/google/callback` exchanges the code → the
refresh token is kept Fernet-encrypted → the week's moments go to a calendar of our own in the person's account,
each with an event id derived from person, week, day and kind, so a sync again updates and never duplicates.

A revoked or expired grant (the token endpoint answers invalid_grant) disconnects: the person is told, and the
ICS feed goes on working. Blocking (the OAuth session, httplib2): call from a thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import google_auth_httplib2
import httplib2
from cryptography.fernet import Fernet, InvalidToken
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from bot.calendar import wording
from bot.calendar.feed import plan_version
from bot.calendar.week import Moment, meal_times, uid, week_moments
from bot.ledger import Ledger
from bot.settings import BotSettings
from bot.storage.protocols import CalendarBotStore
from bot.storage.records import UserRecord

log = logging.getLogger(__name__)
CALLBACK_PATH = "/calendar/google/callback"
# only calendars the app made: it can neither read nor change anything else in the person's account
SCOPES = ["https://www.googleapis.com/auth/calendar.app.created"]
CALENDAR_NAME = "Meal plan (plate-coach)"
CONNECTED, REVOKED = "connected", "revoked"


class StateRefused(ValueError):
    """The callback's `state` was not made by us, was altered, or expired."""


class GoogleRevoked(Exception):
    """The person's grant no longer works (revoked, expired): they must connect again."""


class GoogleUnavailable(Exception):
    """Google (or the network) failed: try the sync again later."""


@dataclass(frozen=True)
class SyncResult:
    created: int
    updated: int
    deleted: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def event_id(moment: Moment) -> str:
    """Google's event ids are base32hex (a-v, 0-9): the hex of the moment's stable uid is."""
    return moment.uid.split("@", 1)[0]


class GoogleCalendar:
    def __init__(self, settings: BotSettings, store: CalendarBotStore, ledger: Ledger, minutes_of):
        missing = [
            name
            for name, value in (
                ("BOT_GOOGLE_CLIENT_ID", settings.google_client_id),
                ("BOT_GOOGLE_CLIENT_SECRET", settings.google_client_secret.get_secret_value()),
                ("BOT_GOOGLE_TOKEN_KEY", settings.google_token_key.get_secret_value()),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"Google Calendar is on but {', '.join(missing)} not set")
        self.settings, self.store, self.ledger, self.minutes_of = settings, store, ledger, minutes_of
        self.fernet = Fernet(settings.google_token_key.get_secret_value().encode())
        secret = settings.google_client_secret.get_secret_value()
        self._state_key = hashlib.sha256(b"google-oauth-state|" + secret.encode()).digest()
        self._locks: dict[int, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    # consent
    def _flow(self, state: str | None = None) -> Flow:
        s = self.settings
        config = {
            "web": {
                "client_id": s.google_client_id,
                "client_secret": s.google_client_secret.get_secret_value(),
                "auth_uri": s.google_auth_uri,
                "token_uri": s.google_token_uri,
                "redirect_uris": [s.public_url + CALLBACK_PATH],
            }
        }
        # a confidential client (it has a secret): no PKCE verifier to keep between the link and the callback
        flow = Flow.from_client_config(config, scopes=SCOPES, state=state, autogenerate_code_verifier=False)
        flow.redirect_uri = s.public_url + CALLBACK_PATH
        flow.oauth2session.trust_env = False
        return flow

    def sign_state(self, user_id: int, now_s: float | None = None) -> str:
        expires = int((now_s if now_s is not None else time.time()) + self.settings.google_state_ttl_s)
        body = _b64(json.dumps({"u": user_id, "exp": expires}, separators=(",", ":")).encode())
        return body + "." + _b64(hmac.new(self._state_key, body.encode(), hashlib.sha256).digest())

    def check_state(self, state: str, now_s: float | None = None) -> int:
        """The person the state names; StateRefused when it is not ours, altered or expired."""
        body, _, mac = state.partition(".")
        expected = _b64(hmac.new(self._state_key, body.encode(), hashlib.sha256).digest())
        if not mac or not hmac.compare_digest(mac, expected):
            raise StateRefused("state signature does not match")
        try:
            claims = json.loads(_unb64(body))
            user_id, expires = int(claims["u"]), int(claims["exp"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StateRefused(f"state unreadable: {exc}") from exc
        if (now_s if now_s is not None else time.time()) > expires:
            raise StateRefused(f"state expired at {expires}")
        return user_id

    def consent_url(self, user: UserRecord) -> str:
        url, _ = self._flow().authorization_url(
            access_type="offline", prompt="consent", include_granted_scopes="true", state=self.sign_state(user.id)
        )
        return url

    def connect(self, state: str, code: str, now: datetime) -> int:
        """The callback: check `state`, exchange `code`, keep the refresh token encrypted; the person's id."""
        user_id = self.check_state(state)
        flow = self._flow(state)
        try:
            token = flow.fetch_token(code=code)
        except Exception as exc:  # oauthlib and requests raise many kinds; none may leak the code to the person
            raise GoogleUnavailable(f"token exchange failed: {type(exc).__name__}: {exc}") from exc
        refresh = token.get("refresh_token")
        if not refresh:
            raise GoogleUnavailable("Google sent no refresh token (offline access not granted)")
        self.store.set_google(
            user_id,
            now,
            google_refresh_token=self.fernet.encrypt(refresh.encode()),
            google_status=CONNECTED,
            google_synced_plan=None,
        )
        return user_id

    # the Calendar API
    def _service(self, user_id: int):
        person = self.store.calendar_person(user_id)
        if person.google_status != CONNECTED or not person.google_refresh_token:
            raise GoogleRevoked("not connected")
        try:
            refresh = self.fernet.decrypt(person.google_refresh_token).decode()
        except InvalidToken as exc:  # the key changed: the person connects again
            raise GoogleRevoked("stored token unreadable with the current key") from exc
        s = self.settings
        credentials = Credentials(
            None,
            refresh_token=refresh,
            token_uri=s.google_token_uri,
            client_id=s.google_client_id,
            client_secret=s.google_client_secret.get_secret_value(),
            scopes=SCOPES,
        )
        http = google_auth_httplib2.AuthorizedHttp(
            credentials, http=httplib2.Http(timeout=s.google_timeout_s, proxy_info=None)
        )
        options = {"api_endpoint": s.google_api_base.rstrip("/") + "/calendar/v3/"} if s.google_api_base else None
        service = build(
            "calendar", "v3", http=http, static_discovery=True, cache_discovery=False, client_options=options
        )
        return service, person

    def sync(self, user_id: int, now: datetime) -> SyncResult | None:
        """Put the person's current plan in their Google calendar (None: nothing new, no plan, or over the limit).

        Raises:
            GoogleRevoked: the grant is gone (the person has been marked disconnected and told).
            GoogleUnavailable: Google failed; try again later.
        """
        with self._lock_of(user_id):  # the callback's first sync and the scheduler's may meet
            return self._sync(user_id, now)

    def _lock_of(self, user_id: int) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(user_id, threading.Lock())

    def _sync(self, user_id: int, now: datetime) -> SyncResult | None:
        user = self.store.get_user(user_id)
        plan = self.store.latest_plan(user_id)
        try:
            service, person = self._service(user_id)
            if plan is None or person.google_synced_plan == plan_version(plan):
                return None
            if self.ledger.reserve_calendar_sync(user, now) is not None:
                log.info("user %s: Google sync of plan %s refused by the month's calendar syncs", user_id, plan.id)
                return None
            try:
                result = self._push(service, person.google_calendar_id, user, plan, now)
            except Exception:
                self.ledger.refund_calendar_sync(user, now)
                raise
        except RefreshError as exc:
            self._disconnected(user, now, str(exc))
            raise GoogleRevoked(str(exc)) from exc
        except HttpError as exc:
            if exc.resp.status in (401, 403):
                self._disconnected(user, now, f"HTTP {exc.resp.status}")
                raise GoogleRevoked(f"HTTP {exc.resp.status}") from exc
            raise GoogleUnavailable(f"Calendar API HTTP {exc.resp.status}") from exc
        except (TransportError, OSError, httplib2.HttpLib2Error) as exc:
            raise GoogleUnavailable(f"Google unreachable: {exc}") from exc
        self.store.set_google(user_id, now, google_synced_plan=plan_version(plan))
        return result

    def _push(self, service, calendar_id: str | None, user: UserRecord, plan, now: datetime) -> SyncResult:
        if not calendar_id:
            made = service.calendars().insert(body={"summary": CALENDAR_NAME, "timeZone": user.timezone}).execute()
            calendar_id = self._keep_calendar(service, user.id, made["id"], now)
        times = meal_times(self.settings, self.store.personal_preferences(user.id))
        moments = week_moments(user.id, plan, self.settings, times, self.minutes_of)
        events = service.events()
        created = updated = 0
        for moment in moments:
            body = self._body(moment, user.timezone)
            try:
                events.insert(calendarId=calendar_id, body=body).execute()
                created += 1
            except HttpError as exc:
                if exc.resp.status != 409:  # 409: that id exists (an earlier sync): update it instead
                    raise
                events.update(calendarId=calendar_id, eventId=body["id"], body=body).execute()
                updated += 1
        deleted = self._delete_stale(events, calendar_id, user.id, plan, {event_id(m) for m in moments})
        return SyncResult(created, updated, deleted)

    def _keep_calendar(self, service, user_id: int, made: str, now: datetime) -> str:
        """Keep the calendar just made unless another process made one first (the store sets a calendar id only
        where none is, atomically on SQL and DynamoDB alike); the spare one is deleted."""
        kept = self.store.set_google(user_id, now, google_calendar_id=made).google_calendar_id
        if kept == made:
            return made
        service.calendars().delete(calendarId=made).execute()
        return kept

    def _delete_stale(self, events, calendar_id: str, user_id: int, plan, kept: set[str]) -> int:
        """A re-planned week with fewer days: the cooking events of the days no longer planned go."""
        monday = datetime.fromisoformat(plan.week_start).date()
        deleted = 0
        for offset in range(-1, 8):
            day = (monday + timedelta(days=offset)).isoformat()
            for slot in self.settings.cooking_reminder_slots:
                stale = uid(user_id, plan.week_start, day, f"cooking-{slot}").split("@", 1)[0]
                if stale in kept:
                    continue
                try:
                    events.delete(calendarId=calendar_id, eventId=stale).execute()
                    deleted += 1
                except HttpError as exc:
                    if exc.resp.status not in (404, 410):
                        raise
        return deleted

    @staticmethod
    def _body(moment: Moment, timezone: str) -> dict:
        start = datetime.combine(moment.day, moment.start)
        end = start + timedelta(minutes=moment.minutes)
        body = {
            "id": event_id(moment),
            "summary": moment.summary,
            "description": moment.description,
            "start": {"dateTime": start.isoformat(timespec="seconds"), "timeZone": timezone},
            "end": {"dateTime": end.isoformat(timespec="seconds"), "timeZone": timezone},
            "reminders": {"useDefault": False, "overrides": []},
        }
        if moment.alarm_min is not None:
            body["reminders"]["overrides"] = [{"method": "popup", "minutes": moment.alarm_min}]
        return body

    def disconnect(self, user_id: int, now: datetime) -> bool:
        """Forget the person's grant ("disconnect google calendar"); False if there was none."""
        if self.store.calendar_person(user_id).google_status != CONNECTED:
            return False
        self.store.set_google(user_id, now, google_refresh_token=None, google_status=None, google_synced_plan=None)
        return True

    def _disconnected(self, user: UserRecord, now: datetime, why: str) -> None:
        """Forget the grant and tell the person (a notice job: sent by the scheduler, within WhatsApp's rules)."""
        log.warning("user %s: Google Calendar grant gone (%s)", user.id, why)
        with self.store.unit_of_work():
            self.store.set_google(user.id, now, google_refresh_token=None, google_status=REVOKED)
            key = f"notice:{user.id}:google_revoked:{now:%Y%m%dT%H%M%S}"
            self.store.schedule_job(key, user.id, "notice", now, {"text": wording.GOOGLE_REVOKED}, now)
