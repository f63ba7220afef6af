"""Google Calendar through the real google-auth-oauthlib / google-auth / google-api-python-client against a LOCAL
STAND-IN of Google's token endpoint and Calendar API (bot/devtools/google_standin.py) over real HTTP: consent URL,
signed and expiring state, code exchange, the refresh token encrypted at rest, idempotent syncs with deterministic
event ids, and a revoked grant telling the person while the ICS feed goes on."""

import base64
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.calendar.google import CALLBACK_PATH, GoogleCalendar, GoogleRevoked, StateRefused
from bot.calendar.reminders import NOTICE
from bot.calendar.week import RecipeMinutes
from bot.devtools.google_standin import GoogleStandIn
from bot.devtools.standins import ServerThread
from bot.ledger import Ledger, period_keys
from bot.storage.records import utcnow

CLIENT_ID = "1234-test.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-test-secret"
PUBLIC_URL = "https://bot.example.test"
PARIS = "+33612345678"
KEY = Fernet.generate_key().decode()


@pytest.fixture
def google_api(monkeypatch):
    # oauthlib refuses a plain-http token endpoint unless told: only the stand-in is http
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    standin = GoogleStandIn(CLIENT_ID, CLIENT_SECRET)
    server = ServerThread(standin.app()).start()
    yield standin, server.url
    server.stop()


def google_settings(url: str) -> dict:
    return dict(
        google_calendar=True,
        google_client_id=CLIENT_ID,
        google_client_secret=CLIENT_SECRET,
        google_auth_uri=url + "/o/oauth2/auth",
        google_token_uri=url + "/token",
        google_api_base=url,
        google_token_key=KEY,
    )


def _plan(days=7, name="Spaghetti bolognese"):
    nutrients = {"kcal": 600.0, "protein_g": 30.0, "fat_g": 20.0, "carbs_g": 70.0}
    meal = {"slot": "dinner", "recipe_id": "spaghetti-bolognese", "name": name, "servings": 1.0, "cost_usd": 2.5}
    day = lambda i: {"index": i, "meals": [{**meal, "nutrients": nutrients}], "totals": nutrients, "cost_usd": 2.5}  # noqa: E731
    return {"days": [day(i) for i in range(days)], "cost_usd": 17.5, "summary": {}}


def _consent(url: str) -> dict[str, str]:
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    return query


def _connect(google: GoogleCalendar, standin: GoogleStandIn, user, now) -> None:
    query = _consent(google.consent_url(user))
    google.connect(query["state"], standin.grant(query["redirect_uri"]), now)


def test_connect_through_the_bot_puts_the_week_in_a_calendar_of_its_own(make_bot, google_api, repo_root, tmp_path):
    standin, url = google_api
    bot = make_bot(recipes_dir=repo_root / "data" / "recipes", calendar_poll_s=0.05, **google_settings(url))
    bot.send("hi", sender=PARIS)
    user = bot.store.get_or_create_user(PARIS, "free", "UTC")
    bot.store.set_tier(user.id, "standard")
    today = date.fromisoformat(period_keys(utcnow(), "Europe/Paris")["day"])
    week = (today - timedelta(days=today.weekday())).isoformat()
    bot.store.save_plan(user.id, week, today.isoformat(), _plan(), {}, utcnow())
    [reply] = bot.send("connect google calendar", sender=PARIS)
    link = next(line for line in reply.splitlines() if line.startswith("http"))
    query = _consent(link)
    assert link.startswith(url + "/o/oauth2/auth?")
    assert query["access_type"] == "offline" and query["prompt"] == "consent" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == PUBLIC_URL + CALLBACK_PATH
    assert query["scope"] == "https://www.googleapis.com/auth/calendar.app.created"
    code = standin.grant(query["redirect_uri"])
    answer = httpx.get(bot.server.url + CALLBACK_PATH, params={"state": query["state"], "code": code}, trust_env=False)
    assert answer.status_code == 200 and "Connected" in answer.text
    [calendar_id] = standin.calendars
    assert standin.calendars[calendar_id]["timeZone"] == "Europe/Paris"
    events = standin.events(calendar_id)
    assert len(events) == 10  # shopping, prep, 7 cooking, check-in
    cooking = [e for e in events.values() if e["summary"].startswith("Cook:")]
    assert {e["reminders"]["overrides"][0]["minutes"] for e in cooking} == {10}
    assert {e["start"]["timeZone"] for e in events.values()} == {"Europe/Paris"}
    assert sorted(e["start"]["dateTime"][11:16] for e in cooking) == ["18:15"] * 7

    # the refresh token is nowhere in the database in plain text, and decrypts with the key
    [refresh] = standin.refresh_tokens
    stored = bot.store.calendar_person(user.id).google_refresh_token
    assert refresh.encode() not in stored and Fernet(KEY.encode()).decrypt(stored).decode() == refresh
    files = [p for p in Path(tmp_path).glob("bot.db*")]
    assert files and not any(refresh.encode() in p.read_bytes() for p in files)

    # the plan changes: the scheduler re-syncs the same events (ids), nothing added
    bot.store.save_plan(user.id, week, today.isoformat(), _plan(name="Chili"), {}, utcnow() + timedelta(seconds=1))
    for _ in range(200):
        if all(e["sequence"] == 1 for e in standin.events(calendar_id).values()):  # every event updated once
            break
        httpx.get(bot.server.url + "/healthz", trust_env=False)  # let time pass without sleeping blindly
    after = standin.events(calendar_id)
    assert set(after) == set(events)
    assert {e["summary"] for e in after.values() if "Cook" in e["summary"]} == {"Cook: Chili"}
    assert {e["sequence"] for e in after.values()} == {1}


def test_sync_twice_creates_no_duplicates_and_a_shorter_week_removes_its_days(make_world, google_api):
    standin, url = google_api
    world = make_world(**google_settings(url))
    google = GoogleCalendar(
        world.settings, world.store, Ledger(world.store, world.settings), RecipeMinutes(world.settings.recipes_dir)
    )
    now = datetime(2026, 11, 27, 9, 0)
    alice = world.person(PARIS, "Europe/Paris")
    world.plan(alice.id, date(2026, 11, 30), now)
    _connect(google, standin, alice, now)
    first = google.sync(alice.id, now)
    assert (first.created, first.updated) == (10, 0)
    assert google.sync(alice.id, now) is None  # the same plan: nothing to do, no sync counted
    world.store.set_google(alice.id, now, google_synced_plan=None)  # forced again
    again = google.sync(alice.id, now)
    assert (again.created, again.updated) == (0, 10)
    [calendar_id] = standin.calendars
    assert len(standin.events(calendar_id)) == 10
    world.plan(alice.id, date(2026, 11, 30), now + timedelta(minutes=5), days=3)
    shorter = google.sync(alice.id, now)
    assert shorter.deleted == 4 and len(standin.events(calendar_id)) == 6
    month = world.store.usage(alice.id, "month", "2026-11")
    assert month["calendar_syncs"] == 3


def test_state_tampering_and_expiry_are_refused(make_world, google_api, make_bot, repo_root):
    standin, url = google_api
    world = make_world(**google_settings(url))
    google = GoogleCalendar(
        world.settings, world.store, Ledger(world.store, world.settings), RecipeMinutes(world.settings.recipes_dir)
    )
    state = google.sign_state(7, now_s=1_000_000)
    assert google.check_state(state, now_s=1_000_100) == 7
    body, mac = state.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "u": 8}).encode()).decode().rstrip("=")
    with pytest.raises(StateRefused, match="signature"):
        google.check_state(forged + "." + mac, now_s=1_000_100)
    with pytest.raises(StateRefused, match="signature"):
        google.check_state(body + "." + mac[:-2] + "AA", now_s=1_000_100)
    with pytest.raises(StateRefused, match="expired"):
        google.check_state(state, now_s=1_000_000 + world.settings.google_state_ttl_s + 1)
    with pytest.raises(StateRefused):
        google.check_state("nonsense", now_s=1_000_100)
    # through the callback: refused, nothing exchanged or stored
    bot = make_bot(recipes_dir=repo_root / "data" / "recipes", **google_settings(url))
    bot.send("hi", sender=PARIS)
    user = bot.store.get_or_create_user(PARIS, "standard", "UTC")
    code = standin.grant(PUBLIC_URL + CALLBACK_PATH)
    tampered = google.sign_state(user.id).replace(".", ".x", 1)
    answer = httpx.get(bot.server.url + CALLBACK_PATH, params={"state": tampered, "code": code}, trust_env=False)
    assert answer.status_code == 400
    assert standin.token_requests == [] and bot.store.calendar_person(user.id).google_status is None


def test_a_revoked_grant_tells_the_person_and_the_ics_feed_still_works(make_world, google_api, twilio_api):
    standin, url = google_api
    world = make_world(**google_settings(url))
    google = GoogleCalendar(
        world.settings, world.store, Ledger(world.store, world.settings), RecipeMinutes(world.settings.recipes_dir)
    )
    now = datetime(2026, 11, 27, 12, 0)
    bob = world.person(PARIS, "Europe/Paris", wrote_at=now - timedelta(hours=1))
    world.plan(bob.id, date(2026, 11, 30), now)
    _connect(google, standin, bob, now)
    google.sync(bob.id, now)
    link = world.feeds.link(bob, now)
    standin.revoke_all()  # the person removed our access in their Google account
    world.plan(bob.id, date(2026, 11, 30), now + timedelta(minutes=1), days=5)
    with pytest.raises(GoogleRevoked):
        google.sync(bob.id, now)
    person = world.store.calendar_person(bob.id)
    assert person.google_status == "revoked" and person.google_refresh_token is None
    assert world.store.usage(bob.id, "month", "2026-11")["calendar_syncs"] == 1  # the failed one refunded
    [notice] = [j for j in world.store.jobs(bob.id) if j.kind == NOTICE]
    [job] = world.store.claim_due_jobs(now, now + timedelta(seconds=30), 16)
    assert job.id == notice.id and world.scheduler.run_job(job, now) == "sent"
    [sent] = twilio_api.standin.wait_for_messages(1)
    assert "connect google calendar" in sent["body"] and "still works" in sent["body"]
    assert world.feeds.render(link.rsplit("/", 1)[1].removesuffix(".ics"), now) is not None


def test_two_processes_syncing_at_once_leave_one_calendar(make_world, google_api):
    import threading

    standin, url = google_api
    worlds = [make_world(**google_settings(url)) for _ in range(2)]
    googles = [
        GoogleCalendar(w.settings, w.store, Ledger(w.store, w.settings), RecipeMinutes(w.settings.recipes_dir))
        for w in worlds
    ]
    now = datetime(2026, 11, 27, 9, 0)
    ivy = worlds[0].person(PARIS, "Europe/Paris")
    worlds[0].plan(ivy.id, date(2026, 11, 30), now)
    _connect(googles[0], standin, ivy, now)
    barrier = threading.Barrier(2)

    def sync(google):
        barrier.wait()
        google.sync(ivy.id, now)

    threads = [threading.Thread(target=sync, args=(g,)) for g in googles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    [calendar_id] = standin.calendars
    assert worlds[1].store.calendar_person(ivy.id).google_calendar_id == calendar_id
    assert len(standin.events(calendar_id)) == 10
