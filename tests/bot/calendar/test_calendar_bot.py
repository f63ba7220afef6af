"""The calendar wing through the bot's ASGI app (uvicorn on 127.0.0.1, signed Twilio webhooks): time zones from
the number and from "timezone ...", "today" on the person's own day, "calendar" → link → the ICS feed parsed back
with icalendar (events, alarms, zones, updates replacing events, syncs counted), "stop calendar" → 404, and the
weekly check-in sent by the app's scheduler through the Twilio client to the LOCAL STAND-IN, once across a
restart."""

from datetime import date, timedelta

import httpx
from icalendar import Calendar
from waiting import wait_for

from bot.calendar.reminders import CHECKIN
from bot.calendar.wording import ASK_ZONE
from bot.ledger import period_keys
from bot.storage.records import ItemRecord, utcnow

PARIS = "+33612345678"
NEW_YORK = "+12125550123"
IDAHO = "+12085551234"  # area code 208: Boise's zone in the south, Los Angeles' in the panhandle
PUBLIC_URL = "https://bot.example.test"


def _plan(days: int = 7, dinner=("spaghetti-bolognese", "Spaghetti bolognese")) -> dict:
    nutrients = {"kcal": 600.0, "protein_g": 30.0, "fat_g": 20.0, "carbs_g": 70.0}
    meals = lambda: [  # noqa: E731
        {
            "slot": "dinner",
            "recipe_id": dinner[0],
            "name": dinner[1],
            "servings": 1.0,
            "cost_usd": 2.5,
            "nutrients": nutrients,
        }
    ]
    return {
        "days": [{"index": i, "meals": meals(), "totals": nutrients, "cost_usd": 2.5} for i in range(days)],
        "cost_usd": 17.5,
        "summary": {},
    }


def _get(bot, url: str) -> httpx.Response:
    return httpx.get(url.replace(PUBLIC_URL, bot.server.url), trust_env=False, timeout=10)


def _link(replies: list[str]) -> str:
    return next(line for reply in replies for line in reply.splitlines() if "/calendar/" in line).strip()


def test_time_zone_from_the_number_then_told_and_today_follows_it(make_bot, repo_root):
    bot = make_bot(recipes_dir=repo_root / "data" / "recipes")
    bot.send("hi", sender=PARIS)
    assert bot.store.get_or_create_user(PARIS, "free", "UTC").timezone == "Europe/Paris"  # one-zone country
    [reply] = bot.send("timezone?", sender=PARIS)
    assert "Europe/Paris (from your number)" in reply
    bot.send("hi", sender=NEW_YORK)
    assert bot.store.get_or_create_user(NEW_YORK, "free", "UTC").timezone == "America/New_York"  # by area code
    bot.send("hi", sender=IDAHO)
    assert bot.store.get_or_create_user(IDAHO, "free", "UTC").timezone == "UTC"  # 208 spans two zones: default
    [reply] = bot.send("timezone?", sender=IDAHO)
    assert "UTC (the default)" in reply and "timezone Europe/Paris" in reply
    [reply] = bot.send("my time zone is Pacific/Tongatapu", sender=NEW_YORK)
    assert reply.startswith("Time zone set: Pacific/Tongatapu")
    user = bot.store.get_or_create_user(NEW_YORK, "free", "UTC")
    assert user.timezone == "Pacific/Tongatapu"
    [reply] = bot.send("timezone Mars/Olympus", sender=NEW_YORK)
    assert "don't know the time zone" in reply
    # "today" is the person's local day (UTC+13), not the server's
    local_day = period_keys(utcnow(), "Pacific/Tongatapu")["day"]
    received = [bot.store.get_message(e.message_sid) for e in bot.store.events_of_kind(("received",))]
    message = next(m for m in received if m.user_id == user.id)
    item = ItemRecord(0, "apple", "Apple", 150, 120, 180, 777.0, 1, 1, 20, 0.9)
    bot.store.save_meal(message.id, user.id, local_day, utcnow(), [item], {}, [], "text")
    [reply] = bot.send("today", sender=NEW_YORK)
    assert "777 kcal in 1 meal" in reply
    [reply] = bot.send("timezone UTC", sender=NEW_YORK)
    if period_keys(utcnow(), "UTC")["day"] != local_day:
        assert "777" not in bot.send("today", sender=NEW_YORK)[0]


def test_calendar_link_feed_updates_and_revocation(make_bot, repo_root):
    bot = make_bot(recipes_dir=repo_root / "data" / "recipes")
    [reply] = bot.send("calendar", sender=PARIS)
    assert "isn't part of the free plan" in reply and "upgrade to standard" in reply
    user = bot.store.get_or_create_user(PARIS, "free", "UTC")
    bot.store.set_tier(user.id, "standard")
    today = date.fromisoformat(period_keys(utcnow(), "Europe/Paris")["day"])
    start = today + timedelta(days=1)
    week = (start - timedelta(days=start.weekday())).isoformat()
    bot.store.save_plan(user.id, week, start.isoformat(), _plan(), {"days": 7}, utcnow())
    replies = bot.send("add my meal plan to calendar", sender=PARIS)
    link = _link(replies)
    assert link.startswith(PUBLIC_URL + "/calendar/") and link.endswith(".ics")
    assert "Times are in Europe/Paris" in replies[0]
    assert _link(bot.send("calendar", sender=PARIS)) == link  # the same link again until revoked
    token = link.rsplit("/", 1)[1].removesuffix(".ics")
    stored = bot.store.calendar_person(user.id).feed_token_sha256
    assert stored and token not in stored  # only the hash is kept

    response = _get(bot, link)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(response.content)
    events = cal.walk("VEVENT")
    kinds = [str(e["categories"].cats[0]) for e in events]
    assert kinds.count("cooking") == 7 and {"shopping", "prep", "checkin"} <= set(kinds)
    cooking = [e for e in events if str(e["categories"].cats[0]) == "cooking"]
    first = min(cooking, key=lambda e: e.decoded("dtstart"))
    assert first.decoded("dtstart").tzinfo.key == "Europe/Paris"
    assert first.decoded("dtstart").strftime("%Y-%m-%d %H:%M") == f"{start} 18:15"  # 45 min before 19:00
    [alarm] = first.walk("VALARM")
    assert alarm.decoded("trigger") == timedelta(minutes=-10)
    assert [tz["tzid"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Paris"]
    uids = {str(e["uid"]) for e in events}
    assert len(uids) == len(events)
    usage = lambda: bot.store.usage(user.id, "month", period_keys(utcnow(), "Europe/Paris")["month"])  # noqa: E731
    assert usage()["calendar_syncs"] == 1
    assert _get(bot, link).status_code == 200 and usage()["calendar_syncs"] == 1  # a poll of the same plan is free

    # the week re-planned: the same events (UIDs) with the new dish and a higher sequence, counted as one more sync
    bot.store.save_plan(
        user.id,
        week,
        start.isoformat(),
        _plan(dinner=("turkey-bean-chili", "Chili")),
        {},
        utcnow() + timedelta(seconds=61),
    )
    updated = Calendar.from_ical(_get(bot, link).content).walk("VEVENT")
    assert {str(e["uid"]) for e in updated} == uids
    assert {str(e["summary"]) for e in updated if str(e["categories"].cats[0]) == "cooking"} == {"Cook: Chili"}
    assert min(int(e["sequence"]) for e in updated) > max(int(e["sequence"]) for e in events)
    assert usage()["calendar_syncs"] == 2

    [stopped] = bot.send("stop calendar", sender=PARIS)
    assert stopped.startswith("Calendar link turned off")
    assert _get(bot, link).status_code == 404
    assert _get(bot, PUBLIC_URL + "/calendar/" + "A" * 43 + ".ics").status_code == 404
    fresh = _link(bot.send("calendar", sender=PARIS))
    assert fresh != link and _get(bot, fresh).status_code == 200 and _get(bot, link).status_code == 404


def test_sync_limit_keeps_the_check_in_and_says_why(make_bot, repo_root):
    bot = make_bot(recipes_dir=repo_root / "data" / "recipes")
    bot.send("hi", sender=PARIS)
    user = bot.store.get_or_create_user(PARIS, "free", "UTC")
    bot.store.set_tier(user.id, "standard")  # 4 calendar syncs a month
    link = _link(bot.send("calendar", sender=PARIS))
    today = date.fromisoformat(period_keys(utcnow(), "Europe/Paris")["day"])
    week = (today - timedelta(days=today.weekday())).isoformat()
    for i in range(5):
        bot.store.save_plan(user.id, week, today.isoformat(), _plan(), {}, utcnow() + timedelta(seconds=i))
        events = Calendar.from_ical(_get(bot, link).content).walk("VEVENT")
    summaries = [str(e["summary"]) for e in events]
    assert not any(s.startswith("Cook:") for s in summaries)
    assert any("syncs are used up" in s for s in summaries) and any("check-in" in s for s in summaries)


def test_the_apps_scheduler_sends_the_weekly_check_in_once_across_a_restart(make_bot, twilio_api, repo_root):
    # no quiet hours: the test may run at any hour
    settings = dict(recipes_dir=repo_root / "data" / "recipes", calendar_poll_s=0.05, quiet_hours_end="21:30")
    bot = make_bot(**settings)
    bot.send("hi", sender=PARIS)
    user = bot.store.get_or_create_user(PARIS, "free", "UTC")
    bot.server.stop()  # the bot is down when the job comes due
    now = utcnow()
    bot.store.schedule_job(f"{CHECKIN}:{user.id}:x", user.id, CHECKIN, now, {"week_start": "2026-11-23"}, now)
    again = make_bot(**settings)
    [sent] = twilio_api.standin.wait_for_messages(1, timeout_s=60)
    assert sent["to"] == "whatsapp:" + PARIS and sent["body"].startswith("How did this week go?")
    again.server.stop()
    third = make_bot(**settings)
    now = utcnow()
    third.store.schedule_job(f"{CHECKIN}:{user.id}:y", user.id, CHECKIN, now, {"week_start": "2026-11-30"}, now)
    assert (
        len(twilio_api.standin.wait_for_messages(2, timeout_s=60)) == 2
    )  # the third app's scheduler runs: y, and not x again
    # y reaches Twilio a moment before its job is marked sent: wait for the mark, not the message
    statuses = lambda: {j.key[-1]: j.status for j in third.store.jobs(user.id) if j.key[-2] == ":"}  # noqa: E731
    wait_for(lambda: statuses() == {"x": "sent", "y": "sent"}, f"both jobs marked sent (now {statuses()})")


def test_plan_my_week_then_calendar_shows_the_planned_week_with_reminders(make_bot, usda_tables_dir, repo_root):
    """The issue's "done when": the real plan wing makes the week, "calendar" gives the link, a calendar client
    (icalendar parsing the feed) sees meal prep, shopping and each planned dinner with its alarm."""
    bot = make_bot(
        nutrition_dir=usda_tables_dir,
        recipes_dir=repo_root / "data" / "recipes",
        coach="local",
        reply_budget_s=12.0,
        calendar_poll_s=0.05,
        quiet_hours_end="21:30",  # none: the test may run at any hour
    )
    bot.send("hi", sender=PARIS)
    user = bot.store.get_or_create_user(PARIS, "free", "UTC")
    bot.store.set_tier(user.id, "standard")
    for said in ("no allergies", "eat better"):
        bot.send(said, sender=PARIS)
    bot.post(bot.form("plan my week", sender=PARIS), timeout=60)
    for _ in range(600):
        if (plan := bot.store.latest_plan(user.id)) is not None:
            break
        httpx.get(bot.server.url + "/healthz", trust_env=False)
    assert plan is not None, "no plan was made"
    dinners = {m["name"] for d in plan.plan["days"] for m in d["meals"] if m["slot"] == "dinner"}
    link = _link(bot.send("calendar", sender=PARIS))
    events = Calendar.from_ical(_get(bot, link).content).walk("VEVENT")
    by_kind: dict[str, list] = {}
    for event in events:
        by_kind.setdefault(str(event["categories"].cats[0]), []).append(event)
    assert len(by_kind["shopping"]) == len(by_kind["prep"]) == len(by_kind["checkin"]) == 1
    assert {str(e["summary"]).removeprefix("Cook: ") for e in by_kind["cooking"]} == dinners
    assert len(by_kind["cooking"]) == sum(1 for d in plan.plan["days"] for m in d["meals"] if m["slot"] == "dinner")
    assert all(len(e.walk("VALARM")) == 1 for e in by_kind["cooking"])
    assert {e.decoded("dtstart").tzinfo.key for e in events} == {"Europe/Paris"}
    # the reminders of the new plan are planned (the check-in at least: the dinners left depend on the hour)
    for _ in range(600):
        if any(j.kind == CHECKIN for j in bot.store.jobs(user.id)):
            break
        httpx.get(bot.server.url + "/healthz", trust_env=False)
    assert any(j.kind == CHECKIN and j.status == "pending" for j in bot.store.jobs(user.id))


def test_help_lists_the_calendar_commands_as_they_are_answered(make_bot, repo_root):
    bot = make_bot(recipes_dir=repo_root / "data" / "recipes")
    [help_text] = bot.send("help", sender=NEW_YORK)
    listed = help_text.rsplit("Commands: ", 1)[1]
    assert "calendar," in listed and "timezone Europe/Paris," in listed and "voice note" in help_text
    [reply] = bot.send("timezone Europe/Paris", sender=NEW_YORK)  # the example exactly as the help shows it
    assert reply.startswith("Time zone set: Europe/Paris")
    [reply] = bot.send("calendar", sender=NEW_YORK)
    assert "isn't part of the free plan" in reply


def test_a_number_that_tells_no_zone_is_asked_once_and_a_city_answers(make_bot, usda_tables_dir, repo_root):
    bot = make_bot(nutrition_dir=usda_tables_dir, recipes_dir=repo_root / "data" / "recipes", coach="local")
    for said in ("hi", "none", "eat better"):  # onboarding: allergies, goal (no other question meanwhile)
        assert "time zone" not in " ".join(bot.send(said, sender=IDAHO))
    [logged] = bot.send("2 eggs", sender=IDAHO)
    assert logged.splitlines()[-1] == ASK_ZONE
    [reply] = bot.send("Boise", sender=IDAHO)
    assert reply.startswith("Time zone set: America/Boise")
    user = bot.store.get_or_create_user(IDAHO, "free", "UTC")
    assert user.timezone == "America/Boise" and bot.store.calendar_person(user.id).zone_source == "person"
    uid = user.id
    bot.store.update_profile(uid, utcnow(), asked={**bot.store.get_profile(uid).asked, "_day": ""})  # a new day
    [logged] = bot.send("a banana", sender=IDAHO)
    assert logged.splitlines()[-1] == "To personalise your calorie target: are you male or female?"  # not again

    [logged] = bot.send("2 eggs", sender=NEW_YORK)  # its area code told its zone: never asked
    assert "time zone" not in logged
