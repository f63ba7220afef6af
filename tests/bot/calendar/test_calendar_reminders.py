"""Which reminders are planned when: the person's own clock through a DST change and at UTC+13, learned meal
times, quiet hours, a re-planned week moving its jobs instead of adding more (real SQLite store)."""

from datetime import date, datetime, timedelta

import pytest

from bot.calendar.reminders import CHECKIN, COOKING, PLAN_READY
from bot.calendar.times import after_quiet_hours, local
from nutrition.personalization.preferences import Learned, UserPreferences


def _cooking(world, user_id):
    return [j for j in world.store.jobs(user_id) if j.kind == COOKING and j.status == "pending"]


def test_cooking_reminders_keep_the_local_hour_across_the_dst_change_in_london(make_world):
    world = make_world()
    alice = world.person("+447700900001", "Europe/London")
    made = datetime(2026, 3, 20, 12, 0)  # Friday; the clocks go forward on Sunday 29 March 2026
    world.reminders.plan_jobs(world.plan(alice.id, date(2026, 3, 23), made), made)
    jobs = _cooking(world, alice.id)
    assert len(jobs) == 7  # one dinner a day (cooking_reminder_slots = dinner)
    for job in jobs:
        # dinner at 19:00, bolognese/chili take 45 min, reminder 10 min before starting
        assert local(job.due_at, "Europe/London").strftime("%H:%M") == "18:05"
    by_day = {local(j.due_at, "Europe/London").date(): j.due_at for j in jobs}
    assert by_day[date(2026, 3, 28)] == datetime(2026, 3, 28, 18, 5)  # GMT
    assert by_day[date(2026, 3, 29)] == datetime(2026, 3, 29, 17, 5)  # BST: an hour earlier in UTC


@pytest.mark.parametrize("zone", ["Pacific/Auckland", "Pacific/Tongatapu"])
def test_a_person_at_utc_plus_13_gets_reminders_at_their_local_hour_on_their_day(make_world, zone):
    world = make_world()
    person = world.person("+6761234567", zone)
    made = datetime(2026, 12, 3, 1, 0)
    world.reminders.plan_jobs(world.plan(person.id, date(2026, 12, 7), made), made)
    jobs = _cooking(world, person.id)
    assert [local(j.due_at, zone).date() for j in jobs] == [date(2026, 12, 7) + timedelta(days=i) for i in range(7)]
    assert {local(j.due_at, zone).strftime("%H:%M") for j in jobs} == {"18:05"}
    # 18:05 at UTC+13 (NZ daylight time, Tonga all year) is 05:05 UTC the same day
    assert jobs[0].due_at == datetime(2026, 12, 7, 5, 5)
    checkin = next(j for j in world.store.jobs(person.id) if j.kind == CHECKIN)
    assert local(checkin.due_at, zone).strftime("%a %H:%M") == "Sun 18:00"


def test_learned_meal_time_moves_the_reminder(make_world):
    world = make_world()
    bob = world.person("+33612345678", "Europe/Paris")
    made = datetime(2026, 11, 27, 9, 0)
    learned = UserPreferences(meal_times={"dinner": Learned("20:30", 0.8, "logs", "2026-11-20T19:00:00+00:00")})
    world.store.set_personal_preferences(bob.id, learned.to_dict(), made)
    world.reminders.plan_jobs(world.plan(bob.id, date(2026, 11, 30), made), made)
    assert {local(j.due_at, "Europe/Paris").strftime("%H:%M") for j in _cooking(world, bob.id)} == {"19:35"}
    # an unsure guess keeps the default
    unsure = UserPreferences(meal_times={"dinner": Learned("20:30", 0.2, "logs", "2026-11-20T19:00:00+00:00")})
    world.store.set_personal_preferences(bob.id, unsure.to_dict(), made)
    world.reminders.plan_jobs(world.store.latest_plan(bob.id), made)
    assert {local(j.due_at, "Europe/Paris").strftime("%H:%M") for j in _cooking(world, bob.id)} == {"18:05"}


def test_a_job_due_in_quiet_hours_moves_to_their_end_in_local_time(make_world):
    world = make_world(checkin_time="23:00", quiet_hours_start="22:00", quiet_hours_end="07:30")
    tonga = world.person("+6761230000", "Pacific/Tongatapu")
    now = datetime(2026, 12, 1, 0, 0)
    week = date(2026, 11, 30)
    assert world.reminders.schedule_checkin(tonga, week, now)
    job = next(j for j in world.store.jobs(tonga.id) if j.kind == CHECKIN)
    assert local(job.due_at, "Pacific/Tongatapu").strftime("%Y-%m-%d %H:%M") == "2026-12-07 07:30"  # Monday
    # over midnight and before it, and outside
    assert after_quiet_hours(datetime(2026, 6, 1, 3, 0), "UTC", "22:00", "07:30") == datetime(2026, 6, 1, 7, 30)
    assert after_quiet_hours(datetime(2026, 6, 1, 12, 0), "UTC", "22:00", "07:30") == datetime(2026, 6, 1, 12, 0)


def test_planning_again_adds_nothing_and_a_replanned_week_moves_its_jobs(make_world):
    world = make_world()
    carol = world.person("+33600000003", "Europe/Paris")
    made = datetime(2026, 11, 27, 9, 0)  # Friday: the plan starts Monday, so a plan-ready notice
    plan = world.plan(carol.id, date(2026, 11, 30), made)
    first = world.reminders.plan_jobs(plan, made)
    assert first == 7 + 1 + 1  # cooking, plan ready, check-in
    assert world.reminders.plan_jobs(plan, made) == 0
    assert [j.kind for j in world.store.jobs(carol.id)].count(PLAN_READY) == 1
    # the week re-planned with 3 days and other dinners: the same keys get the new dishes; days gone are cancelled
    later = made + timedelta(hours=1)
    replanned = world.plan(carol.id, date(2026, 11, 30), later, days=3, dinners=[("turkey-bean-chili", "Chili")])
    assert world.reminders.plan_jobs(replanned, later) == 0
    jobs = world.store.jobs(carol.id)
    cooking = [j for j in jobs if j.kind == COOKING]
    assert len(cooking) == 7
    assert [j.payload["recipe"] for j in cooking if j.status == "pending"] == ["Chili"] * 3
    assert sum(j.status == "cancelled" for j in cooking) == 4


def test_past_moments_get_no_job_and_an_opted_out_person_none(make_world):
    world = make_world()
    dave = world.person("+33600000004", "Europe/Paris")
    made = datetime(2026, 12, 2, 20, 0)  # Wednesday evening: Monday to Wednesday's dinners are past
    world.reminders.plan_jobs(world.plan(dave.id, date(2026, 11, 30), made), made)
    assert len(_cooking(world, dave.id)) == 4
    erin = world.person("+33600000005", "Europe/Paris")
    world.store.set_opted_out(erin.id, True)
    assert world.reminders.plan_jobs(world.plan(erin.id, date(2026, 12, 7), made), made) == 0


def test_the_sql_store_implements_the_calendar_protocol_as_declared():
    import inspect

    from bot.storage.protocols import CalendarStore
    from bot.storage.sql.store import SqlStore

    for name, declared in vars(CalendarStore).items():
        if not name.startswith("_") and callable(declared):
            implemented = inspect.signature(getattr(SqlStore, name)).parameters
            assert list(implemented) == list(inspect.signature(declared).parameters), name


def test_export_shows_the_persons_jobs_without_secrets_and_delete_removes_them(make_world):
    world = make_world()
    gina = world.person("+33600000009", "Europe/Paris")
    made = datetime(2026, 11, 27, 9, 0)
    world.reminders.plan_jobs(world.plan(gina.id, date(2026, 11, 30), made), made)
    world.feeds.link(gina, made)
    world.store.set_google(gina.id, made, google_refresh_token=b"encrypted-bytes", google_status="connected")
    exported = world.store.export_user(gina.id)
    assert len(exported["scheduled_messages"]) == 9
    [calendar] = exported["calendar"]
    assert calendar["google_status"] == "connected"
    assert "feed_token_sha256" not in calendar and "google_refresh_token" not in calendar
    world.store.delete_user(gina.id)
    assert world.store.jobs(gina.id) == [] and world.store.calendar_person(gina.id).feed_token_sha256 is None


def test_the_scheduler_plans_the_jobs_of_plans_made_or_changed_since_its_last_look(make_world):
    world = make_world()
    hana = world.person("+33600000010", "Europe/Paris")
    made = datetime(2026, 11, 27, 9, 0)
    world.scheduler.since = made - timedelta(days=1)
    world.plan(hana.id, date(2026, 11, 30), made)
    assert world.scheduler.plan_changed(made) == 1
    assert len(_cooking(world, hana.id)) == 7
    assert world.scheduler.plan_changed(made) == 0  # nothing new since
    world.plan(hana.id, date(2026, 11, 30), made + timedelta(minutes=1), days=2)
    assert world.scheduler.plan_changed(made) == 1
    assert len(_cooking(world, hana.id)) == 2
