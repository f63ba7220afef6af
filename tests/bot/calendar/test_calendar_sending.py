"""Scheduled messages through the real Twilio client to the LOCAL STAND-IN: free text within WhatsApp's 24-hour
window and a template outside it, the weekly check-in with the week's numbers, each job sent exactly once across
restarts, a crash mid-send and two schedulers at once (real SQLite file; those three also on DynamoDB, moto's
server on loopback, two items a page)."""

import json
import threading
from datetime import datetime, timedelta

import pytest
from dynamodb_server import dynamodb_endpoint, table_url

from bot.calendar.reminders import CHECKIN
from bot.storage.records import ItemRecord

NOW = datetime(2026, 11, 26, 12, 0)  # a Thursday, noon UTC: no one's quiet hours below
TEMPLATES = {"checkin": "HX" + "c" * 32, "cooking": "HX" + "d" * 32}
__all__ = ["dynamodb_endpoint"]  # the fixture, imported for pytest


@pytest.fixture(params=["sqlite", "dynamodb"])
def database_url(request, tmp_path):
    """The store every world of a test shares (a restart is a new world on it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return table_url(request.getfixturevalue("dynamodb_endpoint"), page_size=2)


def _due_checkin(world, user, now=NOW):
    """A check-in due now (the job as the planner writes it, brought forward)."""
    key = f"{CHECKIN}:{user.id}:2026-11-23"
    world.store.schedule_job(key, user.id, CHECKIN, now - timedelta(minutes=1), {"week_start": "2026-11-23"}, now)
    return key


def _run(world, now=NOW):
    due = world.store.claim_due_jobs(now, now + timedelta(seconds=world.settings.lease_s), 16)
    return [world.scheduler.run_job(job, now) for job in due]


def test_inside_the_window_free_text_outside_a_template_and_without_one_nothing(make_world, twilio_api):
    world = make_world(whatsapp_templates=TEMPLATES)
    recent = world.person("+447700900011", "Europe/London", wrote_at=NOW - timedelta(hours=2))
    quiet = world.person("+447700900012", "Europe/London", wrote_at=NOW - timedelta(hours=30))
    by_sms = world.person("+447700900013", "Europe/London", wrote_at=NOW - timedelta(hours=30), sms=True)
    for person in (recent, quiet, by_sms):
        _due_checkin(world, person)
    assert sorted(_run(world)) == ["sent"] * 3
    sent = {m["to"]: m for m in twilio_api.standin.wait_for_messages(3)}
    assert sent["whatsapp:+447700900011"]["body"].startswith("How did this week go?")
    assert "content_sid" not in sent["whatsapp:+447700900011"]
    template = sent["whatsapp:+447700900012"]
    assert template["body"] is None and template["content_sid"] == TEMPLATES["checkin"]
    assert json.loads(template["content_variables"]) == {"1": "0", "2": "0", "3": "0"}
    assert sent["+447700900013"]["body"].startswith("How did this week go?")  # SMS has no such window
    assert sent["whatsapp:+447700900011"]["from"] == "whatsapp:+14155238886"
    # without a template for the kind, nothing goes outside the window
    other = make_world(whatsapp_templates={"cooking": TEMPLATES["cooking"]})
    late = other.person("+447700900014", "Europe/London", wrote_at=NOW - timedelta(hours=25))
    _due_checkin(other, late)
    assert _run(other) == ["skipped"]
    assert len(twilio_api.standin.messages) == 3
    job = other.store.jobs(late.id)[0]
    assert job.status == "skipped"


def test_the_weekly_check_in_carries_the_weeks_numbers_and_schedules_the_next(make_world, twilio_api):
    world = make_world()
    alice = world.person("+447700900021", "Europe/London", wrote_at=NOW - timedelta(hours=1))
    for i, kcal in enumerate((1800.0, 2200.0)):
        at = NOW - timedelta(days=i + 1)
        world.wrote(alice.id, alice.phone, at)
        message = world.store.get_message(f"SM{alice.id:04d}{at:%Y%m%d%H%M%S%f}")
        item = ItemRecord(0, "apple", "Apple", 300, 250, 350, kcal, 10, 10, 200, 0.9)
        world.store.save_meal(message.id, alice.id, at.date().isoformat(), at, [item], {}, [], "text")
    key = _due_checkin(world, alice)
    assert _run(world) == ["sent"]
    body = twilio_api.standin.wait_for_messages(1)[0]["body"]
    assert "You logged 2 meals on 2 of 7 days, about 2,000 kcal a day" in body
    jobs = {j.key: j for j in world.store.jobs(alice.id)}
    assert jobs[key].status == "sent" and jobs[key].twilio_sid.startswith("SM")
    assert jobs[f"{CHECKIN}:{alice.id}:2026-11-30"].status == "pending"  # next week's
    events = world.store.events_of_kind(("reminder_sent",))
    assert [(e.user_id, e.detail["job"], e.detail["via"]) for e in events] == [(alice.id, key, "text")]


def test_a_job_scheduled_before_a_restart_is_sent_once_after_it(make_world, twilio_api, database_url):
    before = make_world(database_url=database_url)
    bob = before.person("+447700900031", "Europe/London", wrote_at=NOW - timedelta(hours=1))
    _due_checkin(before, bob)
    before.store.dispose()  # the process ends before the job is due
    after = make_world(database_url=database_url)  # a new store and scheduler on the same database
    assert _run(after) == ["sent"]
    again = make_world(database_url=database_url)
    assert _run(again, NOW + timedelta(hours=1)) == []
    assert len(twilio_api.standin.wait_for_messages(1)) == 1


def test_a_sender_that_died_mid_send_is_not_sent_twice(make_world, twilio_api, database_url):
    world = make_world(database_url=database_url)
    carol = world.person("+447700900041", "Europe/London", wrote_at=NOW - timedelta(hours=1))
    _due_checkin(world, carol)
    [job] = world.store.claim_due_jobs(NOW, NOW + timedelta(seconds=30), 16)
    body = world.reminders.compose(job, carol, NOW).text
    world.store.job_sending(job.id, body, "text", NOW, NOW + timedelta(seconds=30))
    # Twilio took it, then the process died before writing the SID
    twilio_api.standin.record_sent("whatsapp:+447700900041", "whatsapp:+14155238886", body, datetime.now().astimezone())
    restarted = make_world(database_url=database_url)
    later = NOW + timedelta(seconds=31)  # the lease ran out
    assert _run(restarted, later) == ["sent"]
    assert len(twilio_api.standin.messages) == 1
    [done] = restarted.store.jobs(carol.id)[:1]
    assert done.status == "sent" and done.twilio_sid == twilio_api.standin.messages[0]["sid"]
    # not found at Twilio: sent after all (once)
    dave = restarted.person("+447700900042", "Europe/London", wrote_at=NOW - timedelta(hours=1))
    _due_checkin(restarted, dave)
    [job] = restarted.store.claim_due_jobs(later, later + timedelta(seconds=30), 16)
    restarted.store.job_sending(job.id, restarted.reminders.compose(job, dave, later).text, "text", later, later)
    assert _run(restarted, later + timedelta(seconds=31)) == ["sent"]
    assert len(twilio_api.standin.wait_for_messages(2)) == 2


def test_two_schedulers_at_once_send_each_job_once(make_world, twilio_api, database_url):
    worlds = [make_world(database_url=database_url), make_world(database_url=database_url)]
    people = [
        worlds[0].person(f"+4477009005{i:02d}", "Europe/London", wrote_at=NOW - timedelta(hours=1)) for i in range(6)
    ]
    for person in people:
        _due_checkin(worlds[0], person)
    results: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def run(i):
        barrier.wait()
        while True:
            due = worlds[i].store.claim_due_jobs(NOW, NOW + timedelta(seconds=30), 2)
            if not due:
                return
            results[i].extend(worlds[i].scheduler.run_job(job, NOW) for job in due)

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results[0] + results[1]) == ["sent"] * 6
    sent = twilio_api.standin.wait_for_messages(6)
    assert sorted(m["to"] for m in sent) == sorted(f"whatsapp:{p.phone}" for p in people)


def test_a_failed_send_is_retried_and_an_opted_out_person_skipped(make_world, twilio_api):
    world = make_world()
    erin = world.person("+447700900061", "Europe/London", wrote_at=NOW - timedelta(hours=1))
    _due_checkin(world, erin)
    twilio_api.standin.fail_sends = 1
    assert _run(world) == ["pending"]
    job = world.store.jobs(erin.id)[0]
    assert job.status == "pending" and job.due_at > NOW and job.attempts == 1
    assert _run(world, NOW + timedelta(seconds=5)) == ["sent"]
    frank = world.person("+447700900062", "Europe/London", wrote_at=NOW - timedelta(hours=1))
    _due_checkin(world, frank)
    world.store.set_opted_out(frank.id, True)
    assert _run(world, NOW + timedelta(seconds=6)) == ["skipped"]
    assert len(twilio_api.standin.messages) == 1
