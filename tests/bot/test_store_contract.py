"""The store contract: what callers rely on of every store protocol, run unchanged on SQLite (`SqlStore`) and on
DynamoDB (`DynamoStore` against a DynamoDB-compatible server on loopback, reading two items a page so every
listing crosses pages)."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from dynamodb_server import dynamodb_endpoint, table_url

from bot.storage.factory import make_store
from bot.storage.protocols import SubscriptionRecord
from bot.storage.records import (
    DONE,
    FAILED,
    PENDING,
    Bucket,
    CalendarPersonRecord,
    ItemRecord,
    LastInbound,
    MediaRef,
    utcnow,
)

PAGE = 2
__all__ = ["dynamodb_endpoint"]  # the fixture, imported for pytest


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        store = make_store(f"sqlite:///{tmp_path / 'bot.db'}")
        store.create_schema()
    else:
        store = make_store(table_url(request.getfixturevalue("dynamodb_endpoint"), PAGE))
        assert store.create_tables() is True
        store.create_schema()
    yield store
    store.dispose()


def item(name="apple", kcal=94.0, index=0) -> ItemRecord:
    return ItemRecord(index, name, name.title(), 180.0, 150.0, 210.0, kcal, 0.5, 0.3, 25.0, 0.9)


_sids = itertools.count(1)


def inbound(store, user, sid=None, media=True, lease=None, now=None):
    sid = sid or f"SM{next(_sids):06d}"
    media_refs = [MediaRef("https://api.twilio.com/m/1", "image/jpeg")] if media else []
    now = now or utcnow()
    return store.record_inbound(
        sid, user.id, f"whatsapp:{user.phone}", "whatsapp:+1415", "hi", media_refs, PENDING, now, lease
    )


def person(store, phone="+15550001", tier="free"):
    return store.get_or_create_user(phone, tier, "UTC")


def parallel(fn, n: int, workers: int = 8) -> list:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda _: fn(), range(n)))


# people and messages
def test_one_person_per_phone_even_when_first_messages_race(store):
    users = parallel(lambda: person(store), 16)
    assert len({u.id for u in users}) == 1
    assert store.user_by_phone("+15550001") == users[0]
    store.set_tier(users[0].id, "premium")
    store.set_opted_out(users[0].id, True)
    assert store.get_user(users[0].id).tier == "premium" and store.get_user(users[0].id).opted_out
    with pytest.raises(KeyError):
        store.get_user(999_999)


def test_a_message_sid_is_recorded_once_whoever_races(store):
    user = person(store)
    results = parallel(lambda: inbound(store, user, sid="SMrace"), 12)
    assert sum(created for _, created in results) == 1
    assert len({m.id for m, _ in results}) == 1
    message = store.get_message("SMrace")
    assert message.media[0].content_type == "image/jpeg" and message.status == PENDING
    assert store.get_message("SMnone") is None


def test_message_state_leases_and_retries(store):
    user, now = person(store), utcnow()
    lease = now + timedelta(seconds=60)
    leased, _ = inbound(store, user, lease=lease, now=now)
    assert leased.attempts == 1
    assert store.take_over(leased.sid, now, lease) is None  # its lease runs
    later = now + timedelta(seconds=61)
    taken = store.take_over(leased.sid, later, later + timedelta(seconds=60))
    assert taken is not None and taken.attempts == 2
    store.set_photos_reserved(leased.sid, 2)
    store.set_twiml_reply(leased.sid, "<Response/>")
    store.schedule_retry(leased.sid, "model server down", later + timedelta(seconds=30), later)
    assert store.claim_due_messages(later + timedelta(seconds=10), later + timedelta(seconds=70), 10) == []
    claimed = store.claim_due_messages(later + timedelta(seconds=31), later + timedelta(seconds=90), 10)
    assert [m.sid for m in claimed] == [leased.sid] and claimed[0].attempts == 3
    assert claimed[0].photos_reserved == 2 and claimed[0].twiml_reply == "<Response/>"
    # two workers never both get one
    assert store.claim_due_messages(later + timedelta(seconds=32), later + timedelta(seconds=90), 10) == []
    store.finish_message(leased.sid, FAILED, None, later)
    assert store.count_messages(FAILED) == 1
    failed = store.failed_messages()
    assert failed[0]["message_sid"] == leased.sid and failed[0]["last_error"] == "model server down"
    assert store.take_over(leased.sid, later + timedelta(days=1), later + timedelta(days=2)) is None


def test_due_messages_are_claimed_across_pages_each_once(store):
    user, now = person(store), utcnow()
    sids = [inbound(store, user, now=now)[0].sid for _ in range(2 * PAGE + 3)]
    done, _ = inbound(store, user, now=now)
    store.finish_message(done.sid, DONE, "<Response/>", now)
    later = now + timedelta(seconds=1)
    batches = parallel(lambda: store.claim_due_messages(later, later + timedelta(seconds=60), 3), 6, workers=3)
    claimed = [m.sid for batch in batches for m in batch]
    assert sorted(claimed) == sorted(sids)  # each one, once
    assert store.count_messages(PENDING) == len(sids) and store.count_messages(DONE) == 1
    assert store.last_address(user.id) == (f"whatsapp:{user.phone}", "whatsapp:+1415")


# meals and totals
def test_a_message_logs_one_meal_and_the_day_adds_up(store):
    user = person(store)
    message, _ = inbound(store, user)
    now = utcnow()
    results = parallel(
        lambda: store.save_meal(message.id, user.id, "2026-12-03", now, [item(), item("bread", 80.0, 1)], {}, []), 8
    )
    assert len({meal.id for meal, _ in results}) == 1
    meal, _ = results[0]
    assert meal.kcal == pytest.approx(174.0) and len(meal.items) == 2
    assert store.day_totals(user.id, "2026-12-03").meals == 1
    assert store.day_totals(user.id, "2026-12-03").kcal == pytest.approx(174.0)
    second, _ = inbound(store, user)
    store.save_meal(second.id, user.id, "2026-12-03", now + timedelta(minutes=5), [item("soup", 120.0)], {}, [])
    assert store.last_meal(user.id).items[0].name == "soup"
    undone = store.undo_last_meal(user.id, now)
    assert undone.items[0].name == "soup"
    assert store.day_totals(user.id, "2026-12-03").kcal == pytest.approx(174.0)
    assert [m.id for m in store.meals(user.id)] == [meal.id]
    assert len(store.meals(user.id, include_deleted=True)) == 2


def test_a_correction_fixes_the_meal_the_day_and_keeps_an_example(store):
    user = person(store)
    message, _ = inbound(store, user)
    now = utcnow()
    photos = [{"url": "u", "content_type": "image/jpeg", "bytes": 10, "sha256": "ab"}]
    store.save_meal(message.id, user.id, "2026-12-03", now, [item(), item("bread", 80.0)], {"0": {"d": 1}}, photos)
    fixed = store.correct_last_meal(
        user.id, 1, item("bagel", 250.0), {"kind": "relabel", "corrected": {"label": "bagel"}}, now
    )
    meal, before, totals = fixed
    assert before.name == "bread" and [i.name for i in meal.items] == ["apple", "bagel"]
    assert totals.kcal == pytest.approx(344.0) and totals.meals == 1
    meal, _, totals = store.correct_last_meal(user.id, 0, None, {"kind": "remove", "corrected": {"removed": True}}, now)
    assert [i.name for i in meal.items] == ["bagel"] and totals.kcal == pytest.approx(250.0)
    _, _, totals = store.correct_last_meal(user.id, 0, None, {"kind": "remove", "corrected": {"removed": True}}, now)
    assert totals.meals == 0 and totals.kcal == 0.0 and store.last_meal(user.id) is None
    examples = store.labelled_examples(user.id)
    assert [e["kind"] for e in examples] == ["relabel", "remove", "remove"]
    assert examples[0]["photo"]["sha256"] == "ab" and examples[0]["model_output"]["models"] == {"d": 1}
    assert store.correct_last_meal(user.id, 0, None, {"kind": "remove", "corrected": {}}, now) is None


# the usage ledger
def test_counters_under_concurrent_threads_are_exact(store):
    user = person(store)
    buckets = [Bucket("day", "2026-12-03"), Bucket("month", "2026-12")]
    parallel(lambda: store.add_usage(user.id, buckets, {"ai_cost_micro_usd": 7, "messages": 1}), 40)
    assert store.usage(user.id, "day", "2026-12-03")["ai_cost_micro_usd"] == 280
    assert store.usage(user.id, "month", "2026-12")["messages"] == 40
    assert store.usage(user.id, "hour", "nothing")["messages"] == 0
    week = store.usages(user.id, "day", ["2026-12-03", "2026-12-02", "2026-12-03"])  # one read, repeats once
    assert list(week) == ["2026-12-03", "2026-12-02"]
    assert week["2026-12-03"] == store.usage(user.id, "day", "2026-12-03") and week["2026-12-02"]["messages"] == 0
    assert store.usages(user.id, "day", []) == {}


def test_a_limit_is_never_passed_by_racing_consumers_and_refusals_add_nothing(store):
    user = person(store)
    limited = [Bucket("hour", "2026-12-03T10", 100), Bucket("day", "2026-12-03", 30)]
    refused = parallel(lambda: store.consume(user.id, limited, "photos", 1), 48)
    assert sum(r is None for r in refused) == 30
    assert {r.period for r in refused if r is not None} == {"day"}
    assert store.usage(user.id, "day", "2026-12-03")["photos"] == 30
    assert store.usage(user.id, "hour", "2026-12-03T10")["photos"] == 30  # all or nothing: refused adds none
    assert store.consume(user.id, [Bucket("month", "2026-12", 2)], "photos", 3) == Bucket("month", "2026-12", 2)
    assert store.usage(user.id, "month", "2026-12")["photos"] == 0
    assert store.consume(user.id, [Bucket("month", "2026-12", 2)], "photos", -1) is None  # a refund
    assert (user.id, "2026-12-03") in store.day_usage_keys("2026-12-01")


# the outbox
def test_a_reply_is_queued_once_and_delivered_once(store):
    user, now = person(store), utcnow()
    lease = now + timedelta(seconds=30)
    rows = parallel(
        lambda: store.enqueue_outbound("SMo", "reply", "whatsapp:+1", "whatsapp:+2", "hi", now, lease, user.id), 8
    )
    queued = [r for r in rows if r is not None]
    assert len(queued) == 1 and queued[0].status == "queued"
    claims = parallel(lambda: store.claim_outbound(queued[0].id, now, lease), 8)
    assert sum(c is not None for c in claims) == 1
    assert store.mark_twiml([queued[0].id]) == 0  # taken for a REST send: not answered by TwiML
    store.mark_outbound(queued[0].id, "sent", now, twilio_sid="SMtw1")
    assert store.twilio_sids("whatsapp:+1", now - timedelta(seconds=1)) == {"SMtw1"}
    assert store.replies_sent(user.id, now - timedelta(seconds=1), now + timedelta(seconds=1)) == 1
    assert store.outbound("SMo")[0]["status"] == "sent"


def test_twiml_answers_replays_and_due_rows(store):
    now = utcnow()
    lease = now + timedelta(seconds=30)
    first = store.enqueue_outbound("SMt", "result", "whatsapp:+1", "whatsapp:+2", "one", now, lease)
    second = store.enqueue_outbound("SMt", "result-2", "whatsapp:+1", "whatsapp:+2", "two", now, lease)
    confirm = now + timedelta(minutes=10)  # answered by TwiML: looked up at Twilio from then on
    assert store.mark_twiml([first.id], confirm) == 1
    assert store.replay_twiml("SMt", confirm) == ["one", "two"]  # the queued one is now answered this way too
    assert store.claim_due_outbound(now + timedelta(minutes=5), now + timedelta(minutes=6), 10) == []
    dying = store.enqueue_outbound("SMd", "reply", "whatsapp:+1", "whatsapp:+2", "three", now, lease)
    assert store.claim_due_outbound(now + timedelta(seconds=5), now + timedelta(seconds=60), 10) == []  # leased
    claimed = store.claim_due_outbound(now + timedelta(seconds=31), now + timedelta(seconds=90), 10)
    assert [c.id for c in claimed] == [dying.id] and claimed[0].unknown_since is not None
    store.mark_outbound(dying.id, "queued", now, error="503", next_attempt_at=now + timedelta(minutes=1))
    assert store.claim_due_outbound(now + timedelta(seconds=59), now + timedelta(seconds=90), 10) == []
    again = store.claim_due_outbound(now + timedelta(seconds=61), now + timedelta(seconds=90), 10)
    assert [c.id for c in again] == [dying.id] and again[0].unknown_since is None and again[0].attempts == 2
    store.mark_outbound(dying.id, "failed", now, error="gave up")
    assert [d["id"] for d in store.dead_letters()] == [dying.id]
    assert [r["body"] for r in store.outbound()] == ["one", "two", "three"]
    del second


def test_a_twiml_answer_is_unconfirmed_until_twilio_is_asked(store):
    """`answered` rows are delivered as far as counts go, due for a lookup at Twilio at their confirmation time,
    taken by one claimer (in-process sweep or work queue) with `unknown_since` so Twilio is asked before any send."""
    user, now = person(store), utcnow()
    lease = now + timedelta(seconds=30)
    row = store.enqueue_outbound("SMu", "reply", "whatsapp:+1", "whatsapp:+2", "hi", now, lease, user.id)
    confirm = now + timedelta(seconds=60)
    assert store.mark_twiml([row.id], confirm) == 1 and store.mark_twiml([row.id], confirm) == 0
    assert store.outbound("SMu")[0]["status"] == "answered"
    assert store.replies_sent(user.id, now - timedelta(seconds=1), now + timedelta(seconds=1)) == 1
    assert store.replay_twiml("SMu", now + timedelta(seconds=30)) == ["hi"]  # answered again on Twilio's retry
    assert store.claim_outbound_if_due(row.id, now, now) == (None, now + timedelta(seconds=30))
    assert store.replay_twiml("SMu", confirm) == ["hi"]  # and again: confirmed after the latest answer
    early = now + timedelta(seconds=59)
    assert store.claim_due_outbound(early, early + timedelta(seconds=30), 10) == []
    assert store.overdue_work(early, 10) == ([], [])
    assert store.claim_outbound_if_due(row.id, early, early) == (None, confirm)
    later = now + timedelta(seconds=61)
    assert store.overdue_work(later, 10) == ([], [row.id])
    claims = parallel(lambda: store.claim_outbound_if_due(row.id, later, later + timedelta(seconds=30))[0], 4)
    claims += [store.claim_due_outbound(later, later + timedelta(seconds=30), 10)]
    taken = [c for c in claims[:4] if c is not None] + claims[4]
    assert len(taken) == 1 and taken[0].id == row.id and taken[0].unknown_since is not None
    assert taken[0].unknown_since <= now + timedelta(seconds=1)  # Twilio is asked from when the reply was written
    store.mark_outbound(row.id, "sent", later, twilio_sid="SMtwiml")
    assert store.claim_due_outbound(later + timedelta(hours=1), later + timedelta(hours=2), 10) == []
    assert store.twilio_sids("whatsapp:+1", now - timedelta(seconds=1)) == {"SMtwiml"}


def test_due_replies_are_claimed_across_pages(store):
    now = utcnow()
    ids = [store.enqueue_outbound(f"SMp{i}", "reply", "a", "b", "x", now, None).id for i in range(2 * PAGE + 1)]
    claimed = store.claim_due_outbound(now + timedelta(seconds=1), now + timedelta(seconds=30), 100)
    assert sorted(c.id for c in claimed) == sorted(ids)


# the work queue's claims (WorkStore: BOT_WORK_QUEUE=sqs names an item, the store decides who does it)
def test_one_taker_of_a_named_message_or_reply_whoever_races(store):
    user, now = person(store), utcnow()
    message, _ = inbound(store, user, now=now)  # unleased: due at once
    row = store.enqueue_outbound(message.sid, "reply", "whatsapp:+1", "whatsapp:+2", "hi", now, None, user.id)
    later = now + timedelta(seconds=1)
    lease = later + timedelta(seconds=30)
    claims = parallel(lambda: store.claim_message_if_due(message.sid, later, lease), 8)
    won = [m for m, _ in claims if m is not None]
    assert len(won) == 1 and won[0].attempts == message.attempts + 1
    assert {due for m, due in claims if m is None} == {lease}  # the others are told when it is due again
    sends = parallel(lambda: store.claim_outbound_if_due(row.id, later, lease), 8)
    taken = [r for r, _ in sends if r is not None]
    assert len(taken) == 1 and taken[0].id == row.id and taken[0].unknown_since is None
    assert {due for r, due in sends if r is None} == {lease}


def test_a_work_claim_waits_for_the_retry_time_and_the_lease(store):
    user, now = person(store), utcnow()
    lease = now + timedelta(seconds=5)
    message, _ = inbound(store, user, lease=lease, now=now)  # its webhook holds it
    assert store.claim_message_if_due(message.sid, now + timedelta(seconds=2), lease) == (None, lease)
    expired = lease + timedelta(seconds=1)  # its worker died: the lease ran out
    taken, _ = store.claim_message_if_due(message.sid, expired, expired + timedelta(seconds=5))
    assert taken is not None and taken.attempts == 2
    retry_at = expired + timedelta(seconds=30)
    store.schedule_retry(message.sid, "model down", retry_at, expired)
    assert store.claim_message_if_due(message.sid, expired, expired) == (None, retry_at)
    assert store.claim_message_if_due(message.sid, retry_at, retry_at + timedelta(seconds=5))[0].attempts == 3
    store.finish_message(message.sid, DONE, None, retry_at)
    assert store.claim_message_if_due(message.sid, retry_at, retry_at) == (None, None)
    assert store.claim_message_if_due("SMnowhere", now, now) == (None, None)

    row = store.enqueue_outbound(message.sid, "reply", "whatsapp:+1", "whatsapp:+2", "hi", now, lease, user.id)
    assert store.claim_outbound_if_due(row.id, now, now) == (None, lease)  # the webhook may still answer it
    sending, _ = store.claim_outbound_if_due(row.id, expired, expired + timedelta(seconds=5))
    assert sending.unknown_since is not None  # its lease ran out: it may have gone out in a TwiML answer
    dead = expired + timedelta(seconds=6)  # and its sender died mid-send: taken again, Twilio asked first
    again, _ = store.claim_outbound_if_due(row.id, dead, dead + timedelta(seconds=5))
    assert again.attempts == sending.attempts + 1 and again.unknown_since is not None
    store.mark_outbound(row.id, "sent", dead, twilio_sid="SMtw")
    assert store.claim_outbound_if_due(row.id, dead, dead) == (None, None)
    assert store.claim_outbound_if_due(10**9, dead, dead) == (None, None)


def test_overdue_work_is_listed_across_pages_and_nothing_is_leased(store):
    user, now = person(store), utcnow()
    due = [inbound(store, user, now=now)[0].sid for _ in range(2 * PAGE + 1)]
    inbound(store, user, now=now, lease=now + timedelta(minutes=5))  # held by a live worker
    waiting = inbound(store, user, now=now)[0]
    store.schedule_retry(waiting.sid, "model down", now + timedelta(minutes=5), now)  # not due yet
    finished = inbound(store, user, now=now)[0]
    store.finish_message(finished.sid, DONE, None, now)
    replies = [store.enqueue_outbound(sid, "reply", "a", "b", "x", now, None, user.id).id for sid in due]
    store.enqueue_outbound(waiting.sid, "reply", "a", "b", "x", now, now + timedelta(minutes=5), user.id)
    sent = store.enqueue_outbound(finished.sid, "reply", "a", "b", "x", now, None, user.id)
    store.mark_outbound(sent.id, "sent", now, twilio_sid="SMtw")
    before = now + timedelta(seconds=1)
    sids, ids = store.overdue_work(before, 100)
    assert sorted(sids) == sorted(due) and sorted(ids) == sorted(replies)
    assert store.overdue_work(now - timedelta(seconds=1), 100) == ([], [])
    few = store.overdue_work(before, 3)
    assert len(few[0]) == 3 and set(few[0]) <= set(due) and len(few[1]) == 3 and set(few[1]) <= set(replies)
    assert store.overdue_work(before, 100) == (sids, ids)  # listing leased nothing
    assert all(store.claim_message_if_due(sid, before, before + timedelta(seconds=9))[0] for sid in due)
    assert store.overdue_work(before, 100)[0] == []


# events
def test_events_of_a_message_and_of_a_kind(store):
    user, now = person(store), utcnow()
    for i in range(2 * PAGE + 1):
        store.add_event("received", now + timedelta(seconds=i), f"SMe{i}", user.id, detail={"i": i})
    store.add_event("link_click", now, detail={"link": "x"})
    assert [e.detail["i"] for e in store.events("SMe2")] == [2]
    kinds = store.events_of_kind(("received", "link_click"), since=now + timedelta(seconds=1))
    assert [e.kind for e in kinds] == ["received"] * (2 * PAGE)
    assert len(store.events()) == 2 * PAGE + 2


# Stripe events
def test_a_stripe_event_is_applied_once(store):
    now = utcnow()
    answers = parallel(lambda: store.add_stripe_event("evt_1", "customer.subscription.updated", now), 8)
    assert sum(answers) == 1 and store.stripe_event_seen("evt_1")
    with pytest.raises(RuntimeError), store.unit_of_work():  # a change that failed: the event stays unapplied
        assert store.add_stripe_event("evt_2", "invoice.paid", now)
        raise RuntimeError("the change failed")
    assert not store.stripe_event_seen("evt_2")
    with store.unit_of_work():
        assert store.add_stripe_event("evt_2", "invoice.paid", now)
    assert store.stripe_event_seen("evt_2") and not store.add_stripe_event("evt_2", "invoice.paid", now)


def test_a_failed_unit_of_work_leaves_its_message_pending(store):
    user, now = person(store), utcnow()
    message, _ = inbound(store, user, lease=now + timedelta(seconds=30))
    with pytest.raises(RuntimeError), store.unit_of_work():
        store.finish_message(message.sid, DONE, None, now)
        raise RuntimeError("the handler died")
    assert store.get_message(message.sid).status == PENDING  # the retry worker takes it up after its lease
    with store.unit_of_work():
        store.finish_message(message.sid, DONE, None, now)
    assert store.get_message(message.sid).status == DONE


def test_subscriptions_and_what_billing_reads(store):
    user, other, now = person(store), person(store, "+15550002"), utcnow()
    sub = SubscriptionRecord(
        user.id,
        "premium",
        "active",
        stripe_customer_id="cus_1",
        stripe_subscription_id="sub_1",
        cancel_at=now - timedelta(hours=1),
        last_event_created=5,
    )
    store.set_tier(user.id, "premium")
    store.save_subscription(sub, now)
    store.save_subscription(SubscriptionRecord(other.id, "premium", "active", cancel_at=now + timedelta(days=3)), now)
    assert store.subscription(user.id) == sub and store.subscription_by_customer("cus_1") == sub
    assert store.subscription_by_customer("cus_none") is None
    assert [s.user_id for s in store.subscriptions_to_check(now, now - timedelta(days=3))] == [user.id]
    store.save_subscription(SubscriptionRecord(**{**vars(sub), "comp_tier": "premium"}), now)
    assert store.subscriptions_to_check(now, now - timedelta(days=3)) == []


# people's facts, plans, what was learned
def test_profile_and_the_pending_question(store):
    user, now = person(store), utcnow()
    assert store.get_profile(user.id).goal is None
    store.update_profile(user.id, now, goal="lose", allergens=("peanut",), age_years=33.5, asked={"goal": "d"})
    profile = store.update_profile(user.id, now, weight_kg=70.0)
    assert profile.goal == "lose" and profile.allergens == ("peanut",) and profile.weight_kg == 70.0
    assert store.get_profile(user.id) == profile and profile.asked == {"goal": "d"}
    with pytest.raises(ValueError):
        store.update_profile(user.id, now, shoe_size=44)
    store.set_clarification(user.id, "portion", {"food": "rice"}, now)
    assert store.get_clarification(user.id).payload == {"food": "rice"}
    store.clear_clarification(user.id)
    assert store.get_clarification(user.id) is None


def test_plans_ratings_and_short_links(store):
    user, now = person(store), utcnow()
    first = store.save_plan(user.id, "2026-11-30", "2026-12-01", {"days": 1}, {"days": 3}, now)
    store.update_plan(first.id, now, have=["rice"], shown={"day": 0, "slot": "lunch"})
    again = store.save_plan(user.id, "2026-11-30", "2026-12-02", {"days": 2}, {"days": 3}, now)
    assert again.id == first.id and again.have == () and again.shown is None and again.plan == {"days": 2}
    store.save_plan(user.id, "2026-12-07", "2026-12-07", {"days": 7}, {}, now)
    assert store.latest_plan(user.id).week_start == "2026-12-07"
    with pytest.raises(KeyError):
        store.update_plan(999_999, now, have=[])
    for rating in (5, 3, 4):
        store.add_plan_rating(user.id, first.id, 0, "lunch", "r1", rating, now)
    assert [r.rating for r in store.plan_ratings(user.id)] == [5, 3, 4]
    link = store.add_short_link(user.id, first.id, "instacart", "https://x/cart", "digest", now)
    assert store.short_link(user.id, first.id, "instacart", "digest") == link
    assert store.get_short_link(link.id) == link and store.short_link(user.id, first.id, "instacart", "b") is None
    assert store.set_meal_preferences(user.id, {"dislikes": ["okra"]}, now) == store.meal_preferences(user.id)


def test_what_was_learned(store):
    user, now = person(store), utcnow()
    assert store.personal_preferences(user.id) == {} and store.personal_since(user.id) is None
    store.set_photo_portions(user.id, {"meal_id": 1, "items": {}}, now)
    store.set_personal_preferences(user.id, {"stage": "learning"}, now + timedelta(seconds=5))
    assert store.personal_preferences(user.id) == {"stage": "learning"}
    assert store.photo_portions(user.id) == {"meal_id": 1, "items": {}}
    assert store.personal_since(user.id) == now
    store.set_photo_portions(user.id, None, now)
    assert store.photo_portions(user.id) is None


def test_photo_questions_are_answered_once_and_start_the_meal(store):
    user, now = person(store), utcnow()
    message, _ = inbound(store, user)
    store.set_clarification(user.id, "portion", {}, now)
    photo = {"url": "u", "content_type": "image/jpeg", "bytes": 3, "sha256": "cd"}
    questions = [
        {"photo_index": 0, "photo": photo, "item": {"box": {"x": i}, "embedding": "e"}, "choices": []} for i in range(3)
    ]
    first = store.set_photo_questions(
        user.id, message.id, message.sid, "2026-12-03", now, {"models": {}, "photos": [photo]}, questions, now
    )
    assert store.get_clarification(user.id) is None and store.photo_question(user.id) == first
    store.set_question_choices(first.id, [{"name": "rice"}])
    assert store.photo_question(user.id).choices == ({"name": "rice"},)
    crop = {
        "label": "rice",
        "ndb": "20045",
        "display_name": "Rice",
        "answer": "1",
        "how": "choice",
        "embedding": b"\x00\x01",
    }
    answers = parallel(lambda: store.answer_photo_question(first.id, crop, item("rice", 200.0), now), 6)
    answered = [a for a in answers if a is not None]
    assert len(answered) == 1
    assert answered[0].meal.kcal == pytest.approx(200.0) and answered[0].totals.meals == 1
    assert answered[0].next is not None and store.photo_question(user.id).id == answered[0].next.id
    second = store.answer_photo_question(answered[0].next.id, {**crop, "embedding": None}, item("egg", 70.0), now)
    assert [i.name for i in second.meal.items] == ["rice", "egg"] and second.totals.kcal == pytest.approx(270.0)
    crops = store.labelled_crops(user.id)
    assert [c.label for c in crops] == ["rice", "rice"] and crops[0].embedding == b"\x00\x01"
    assert crops[0].box == {"x": 0} and "embedding" not in crops[0].model_output
    assert [c.id for c in store.labelled_crops(with_embedding=True)] == [crops[0].id]
    assert store.clear_photo_questions(user.id) == 1 and store.photo_question(user.id) is None


# privacy
def test_delete_user_removes_everything_of_the_person_and_nothing_of_anyone_else(store):
    user, other, now = person(store), person(store, "+15550002"), utcnow()
    for who in (user, other):
        message, _ = inbound(store, who, lease=now)
        store.add_event("received", now, message.sid, who.id)
        store.add_event("delivered", now, message.sid)  # delivery's events name no person
        store.save_meal(message.id, who.id, "2026-12-03", now, [item()], {}, [])
        store.add_usage(who.id, [Bucket("day", "2026-12-03")], {"messages": 1})
        store.enqueue_outbound(message.sid, "reply", message.from_addr, message.to_addr, "hi", now, now)
        store.update_profile(who.id, now, goal="lose")
        store.add_stored_photos(who.id, [{"sha256": "shared", "content_type": "image/jpeg", "bytes": 1}], now)
    text, _ = inbound(store, user, media=False)
    store.enqueue_outbound("billing-x", "notice", "whatsapp:+15550001", "b", "paid", now, now, user.id)
    store.add_stored_photos(user.id, [{"sha256": "theirs", "content_type": "image/jpeg", "bytes": 1}], now)
    store.set_clarification(user.id, "portion", {}, now)
    store.set_personal_preferences(user.id, {"a": 1}, now)
    plan = store.save_plan(user.id, "2026-11-30", "2026-11-30", {}, {}, now)
    store.add_plan_rating(user.id, plan.id, 0, "lunch", "r", 4, now)
    link = store.add_short_link(user.id, plan.id, "instacart", "https://x", "d", now)
    store.save_subscription(SubscriptionRecord(user.id, "premium", "active", stripe_subscription_id="sub_9"), now)
    q = {"photo_index": 0, "photo": {}, "item": {}, "choices": []}
    store.set_photo_questions(user.id, text.id, text.sid, "2026-12-03", now, {}, [q], now)
    before_other = store.export_user(other.id)

    deleted = store.delete_user(user.id)

    assert deleted.orphan_photos == ["theirs"]
    assert len(deleted.media_messages) == 1
    soon = utcnow() + timedelta(seconds=1)  # the delete queues them as it runs
    assert [
        sid for sid, _ in store.claim_media_deletions(soon, soon + timedelta(minutes=1), 10)
    ] == deleted.media_messages
    assert [sid for sid, _ in store.claim_stripe_cancellations(soon, soon + timedelta(minutes=1), 10)] == ["sub_9"]
    left = store.export_user(user.id)
    assert left["user"] is None and not any(v for v in left.values() if isinstance(v, list))
    with pytest.raises(KeyError):
        store.get_user(user.id)
    assert store.user_by_phone("+15550001") is None and store.get_short_link(link.id) is None
    assert store.stored_photos() == ["shared"] and store.outbound("billing-x") == []
    # nothing of theirs blocks anything new: the notice's (sid, kind) is free again
    assert store.enqueue_outbound("billing-x", "notice", "whatsapp:+1", "b", "new", now, now) is not None
    assert all(e.user_id != user.id for e in store.events())
    assert store.export_user(other.id) == before_other
    assert store.get_or_create_user("+15550001", "free", "UTC").id != user.id  # a new person, from scratch


def test_media_deletions_are_leased_and_retried(store):
    user = person(store)
    message, _ = inbound(store, user)
    store.delete_user(user.id)
    now = utcnow() + timedelta(seconds=1)
    assert [d["message_sid"] for d in store.media_deletions()] == [message.sid]
    assert store.claim_media_deletions(now, now + timedelta(minutes=1), 10)[0] == (message.sid, 1)
    assert store.claim_media_deletions(now + timedelta(seconds=30), now + timedelta(minutes=2), 10) == []
    store.media_deletion_failed(message.sid, "503", now + timedelta(minutes=5))
    assert store.media_deletions()[0]["last_error"] == "503"
    assert store.claim_media_deletions(now + timedelta(minutes=6), now + timedelta(minutes=7), 10)[0][1] == 2
    store.media_deleted(message.sid)
    assert store.media_deletions() == []


# what operations read in bulk (OpsStore: /metrics, costs, analytics)
def _ops(store):
    if not hasattr(store, "count_outbound"):
        pytest.skip("this branch's SqlStore has no OpsStore yet (bot/storage/sql/ops.py comes with the ops merge)")


def test_counts_per_tier_status_and_outbox_state(store):
    _ops(store)
    now = utcnow()
    people = [person(store, f"+1555009{i:04d}") for i in range(2 * PAGE + 1)]
    parallel(lambda: person(store, "+15550090000"), 6)  # racing creations of one person count once
    store.set_tier(people[0].id, "premium")
    store.set_tier(people[0].id, "premium")  # unchanged: no double count
    store.set_tier(people[1].id, "standard")
    store.delete_user(people[2].id)
    assert store.people_by_tier() == {"free": 2 * PAGE - 2, "premium": 1, "standard": 1}
    store.save_subscription(SubscriptionRecord(people[0].id, "premium", "active"), now)
    store.save_subscription(SubscriptionRecord(people[1].id, "standard", "past_due"), now)
    store.save_subscription(SubscriptionRecord(people[1].id, "standard", "active"), now)  # replaced, not added
    assert store.subscriptions_by_status() == {("premium", "active"): 1, ("standard", "active"): 1}
    rows = [store.enqueue_outbound(f"SMc{i}", "reply", "a", "b", "x", now, None, people[0].id) for i in range(3)]
    store.claim_outbound(rows[0].id, now, now + timedelta(seconds=30))
    store.mark_twiml([rows[1].id])
    assert [store.count_outbound(s) for s in ("queued", "sending", "answered", "sent")] == [1, 1, 1, 0]
    store.mark_outbound(rows[0].id, "sent", now, twilio_sid="SMx")
    assert store.count_outbound("sending") == 0 and store.count_outbound("sent") == 1


def test_people_page_by_id_and_the_ledger_of_everyone(store):
    _ops(store)
    now = utcnow()
    ids = [person(store, f"+1555008{i:04d}").id for i in range(2 * PAGE + 1)]
    pages, after = [], 0
    while page := store.user_ids(after, PAGE):
        pages.append(page)
        after = page[-1]
    assert [i for page in pages for i in page] == sorted(ids) and all(len(p) <= PAGE for p in pages)
    store.update_profile(ids[0], now)  # not a person's tier or zone
    berlin = store.get_or_create_user("+4915100000", "premium", "Europe/Berlin")
    for who in (ids[0], berlin.id):
        store.add_usage(who, [Bucket("day", "2026-12-03"), Bucket("month", "2026-12")], {"photos": 2})
        store.add_usage(who, [Bucket("day", "2026-12-02")], {"ai_cost_micro_usd": 500})
    rows = store.usage_rows("day", "2026-12-03")
    assert rows == sorted(
        [(ids[0], "free", "UTC", "2026-12-03", 2, 0), (berlin.id, "premium", "Europe/Berlin", "2026-12-03", 2, 0)]
    )
    assert len(store.usage_rows("day", "2026-12-01")) == 4
    assert [r[3] for r in store.usage_rows("month", "2026-11")] == ["2026-12", "2026-12"]
    for who, tz in ((ids[0], "UTC"), (berlin.id, "Europe/Berlin")):
        row = store.enqueue_outbound(f"SMr{who}", "reply", "a", "b", "x", now, None, who)
        store.mark_twiml([row.id])
        del tz
    store.enqueue_outbound("SMr-queued", "reply", "a", "b", "x", now, None, ids[0])  # not delivered
    window = (now - timedelta(seconds=1), now + timedelta(seconds=1))
    assert store.replies_sent_by_user(*window, "Europe/Berlin") == {berlin.id: 1}
    assert store.replies_sent_by_user(*window, "UTC") == {ids[0]: 1}


# scheduled messages and each person's calendar settings (CalendarStore)
def test_a_job_is_scheduled_once_per_key_and_a_replan_moves_only_a_pending_one(store):
    user, now = person(store), utcnow()
    due = now + timedelta(hours=1)
    key = f"checkin:{user.id}:2026-11-30"
    added = parallel(lambda: store.schedule_job(key, user.id, "checkin", due, {"week": 1}, now), 8)
    assert sum(added) == 1
    [job] = store.jobs(user.id)
    assert (job.key, job.kind, job.due_at, job.payload, job.status, job.attempts) == (
        key,
        "checkin",
        due,
        {"week": 1},
        "pending",
        0,
    )
    later = due + timedelta(minutes=30)
    assert store.schedule_job(key, user.id, "checkin", later, {"week": 2}, now) is False  # re-planned: moved
    moved = store.jobs(user.id)[0]
    assert (moved.id, moved.due_at, moved.payload, moved.status) == (job.id, later, {"week": 2}, "pending")
    [claimed] = store.claim_due_jobs(later, later + timedelta(seconds=30), 10)
    store.finish_job(claimed.id, "sent", later, twilio_sid="SMjob1")
    assert store.schedule_job(key, user.id, "checkin", later + timedelta(hours=1), {"week": 3}, now) is False
    sent = store.jobs(user.id)[0]  # one already sent stays sent, at its time, with its words
    assert (sent.status, sent.due_at, sent.payload, sent.twilio_sid) == ("sent", later, {"week": 2}, "SMjob1")
    other = person(store, "+15550002")
    assert store.schedule_job(key, other.id, "checkin", due, {}, now) is False  # a key is one job in all the store
    assert store.jobs(other.id) == []


def test_due_jobs_are_claimed_once_by_racing_schedulers_and_again_when_a_lease_runs_out(store):
    user, now = person(store), utcnow()
    keys = [f"cooking:{user.id}:2026-11-30:{i}" for i in range(2 * PAGE + 3)]
    for i, key in enumerate(keys):
        store.schedule_job(key, user.id, "cooking", now - timedelta(minutes=i), {"i": i}, now)
    store.schedule_job(f"cooking:{user.id}:later", user.id, "cooking", now + timedelta(hours=1), {}, now)
    lease = now + timedelta(seconds=30)
    batches = parallel(lambda: store.claim_due_jobs(now, lease, 2), 12, workers=6)
    claimed = {job.key: job for batch in batches for job in batch}
    assert sorted(job.key for batch in batches for job in batch) == sorted(keys)  # each one, once
    assert {(j.status, j.attempts, j.unknown_since) for j in claimed.values()} == {("sending", 1, None)}
    assert store.claim_due_jobs(now + timedelta(seconds=10), lease, 10) == []  # all leased
    dying, crashed, *done = (claimed[k] for k in keys)
    for job in done:
        store.finish_job(job.id, "sent", now, twilio_sid=f"SM{job.id}")
    store.job_sending(dying.id, "Time to cook", "text", now, lease)  # written before the Twilio call, then it died
    after = lease + timedelta(seconds=1)
    retakes = parallel(lambda: store.claim_due_jobs(after, after + timedelta(seconds=30), 10), 6, workers=6)
    again = [job for batch in retakes for job in batch]
    assert sorted(j.key for j in again) == sorted([dying.key, crashed.key])  # taken again, each once
    retaken = {j.key: j for j in again}
    assert retaken[dying.key].unknown_since == now and retaken[dying.key].attempts == 2
    assert (retaken[dying.key].body, retaken[dying.key].via) == ("Time to cook", "text")
    assert retaken[crashed.key].unknown_since is None  # nothing was being sent: nothing to look up
    # still unknown (Twilio's lookup failed): it stays sending, and is taken again when its new lease ends
    store.finish_job(dying.id, "sending", after, lease_until=after + timedelta(seconds=20), last_error="lookup failed")
    store.finish_job(crashed.id, "pending", after, due_at=after + timedelta(minutes=1), last_error="quiet hours")
    assert store.claim_due_jobs(after + timedelta(seconds=19), after + timedelta(minutes=5), 10) == []
    [looked_up] = store.claim_due_jobs(after + timedelta(seconds=21), after + timedelta(minutes=10), 10)
    assert looked_up.id == dying.id and looked_up.unknown_since == now and looked_up.attempts == 3
    [retry] = store.claim_due_jobs(after + timedelta(minutes=6), after + timedelta(minutes=7), 10)
    assert retry.id == crashed.id and retry.unknown_since is None and retry.attempts == 3
    store.finish_job(retry.id, "skipped", after, last_error="opted out")
    assert {j.key: j.status for j in store.jobs(user.id)}[crashed.key] == "skipped"
    with pytest.raises(KeyError):
        store.finish_job(999_999, "sent", now)
    with pytest.raises(ValueError):
        store.finish_job(retry.id, "lost", now)
    with pytest.raises(ValueError):
        store.finish_job(retry.id, "sent", now, body="x")


def test_a_replan_cancels_the_pending_jobs_it_no_longer_wants(store):
    user, other, now = person(store), person(store, "+15550002"), utcnow()
    soon, prefix = now + timedelta(hours=1), f"cooking:{user.id}:2026-11-30:"
    mon, tue, wed, thu = (f"{prefix}{day}:dinner" for day in ("mon", "tue", "wed", "thu"))
    for key in (mon, tue, wed, thu):
        store.schedule_job(key, user.id, "cooking", soon, {}, now)
    next_week = f"cooking:{user.id}:2026-12-07:mon:dinner"
    store.schedule_job(next_week, user.id, "cooking", soon, {}, now)
    theirs = f"cooking:{other.id}:2026-11-30:mon:dinner"
    store.schedule_job(theirs, other.id, "cooking", soon, {}, now)
    sent = next(j for j in store.jobs(user.id) if j.key == wed)
    store.finish_job(sent.id, "sent", now, twilio_sid="SMwed")
    assert store.cancel_jobs(user.id, prefix, {mon}, now) == 2  # tue and thu; wed was sent
    assert {j.key: j.status for j in store.jobs(user.id)} == {
        mon: "pending",
        tue: "cancelled",
        wed: "sent",
        thu: "cancelled",
        next_week: "pending",
    }
    assert [j.status for j in store.jobs(other.id)] == ["pending"]
    due = store.claim_due_jobs(soon, soon + timedelta(seconds=30), 10)
    assert sorted(j.key for j in due) == sorted([mon, next_week, theirs])  # a cancelled job is never sent
    assert store.schedule_job(tue, user.id, "cooking", soon + timedelta(minutes=5), {}, now) is False
    assert {j.key: j.status for j in store.jobs(user.id)}[tue] == "pending"  # planned again: back on


def test_a_feed_token_names_its_owner_until_revoked_and_the_calendar_settings(store):
    user, other, now = person(store), person(store, "+15550002"), utcnow()
    first, second, third = ("a" * 64, "b" * 64, "c" * 64)
    assert store.calendar_person(user.id) == CalendarPersonRecord(user.id)
    assert store.set_feed(user.id, first, now).feed_token_sha256 == first
    assert store.feed_owner(first) == user.id and store.feed_owner(second) is None
    synced = store.set_feed(user.id, first, now, synced_plan="7@2026-12-03")
    assert (synced.feed_token_sha256, synced.synced_plan, synced.feed_generation) == (first, "7@2026-12-03", 0)
    assert store.feed_synced(user.id, first, "8@2026-12-03", now) is True
    assert store.calendar_person(user.id).synced_plan == "8@2026-12-03"
    revoked = store.set_feed(user.id, None, now)
    assert (revoked.feed_token_sha256, revoked.feed_generation) == (None, 1)  # the next link is a new one
    assert store.feed_owner(first) is None
    assert store.feed_synced(user.id, first, "9@2026-12-03", now) is False  # a fetch racing the revoke
    assert store.calendar_person(user.id).feed_token_sha256 is None and store.feed_owner(first) is None
    assert store.feed_synced(other.id, first, "9@2026-12-03", now) is False  # no settings at all
    assert store.set_feed(user.id, None, now).feed_generation == 1  # nothing to revoke
    store.set_feed(user.id, second, now)
    store.set_feed(user.id, third, now)  # a new link replaces the last
    assert store.feed_owner(second) is None and store.feed_owner(third) == user.id
    moved = store.set_timezone(user.id, "Europe/Berlin", "person", now)
    assert moved.timezone == "Europe/Berlin" and store.get_user(user.id) == moved
    settings = store.calendar_person(user.id)
    assert (settings.zone_source, settings.feed_token_sha256, settings.feed_generation) == ("person", third, 1)
    with pytest.raises(KeyError):
        store.set_timezone(999_999, "UTC", "person", now)
    store.set_google(user.id, now, google_refresh_token=b"\x00sealed", google_calendar_id="cal-1")
    store.set_google(user.id, now, google_status="connected")
    store.set_google(other.id, now, google_status="connected")
    assert sorted(store.google_connected()) == sorted([user.id, other.id])
    store.set_google(other.id, now, google_refresh_token=None, google_status="revoked")
    assert store.google_connected() == [user.id]
    google = store.calendar_person(user.id)
    assert (google.google_refresh_token, google.google_calendar_id, google.google_status) == (
        b"\x00sealed",
        "cal-1",
        "connected",
    )
    assert store.calendar_person(other.id).google_refresh_token is None
    kept = parallel(lambda: store.set_google(other.id, now, google_calendar_id=f"cal-{next(_sids)}"), 6)
    assert len({k.google_calendar_id for k in kept}) == 1  # two processes each made one: the first is kept
    assert store.calendar_person(other.id).google_calendar_id == kept[0].google_calendar_id
    assert store.set_google(other.id, now, google_calendar_id=None).google_calendar_id is None  # cleared
    with pytest.raises(ValueError):
        store.set_google(user.id, now, feed_token_sha256=first)
    with pytest.raises(ValueError):
        store.set_feed(user.id, None, now, google_status="connected")


def test_the_latest_message_and_the_plans_changed_since_a_time(store):
    user, now = person(store), utcnow()
    assert store.last_inbound(user.id) is None
    inbound(store, user, now=now - timedelta(hours=1))
    store.record_inbound("SMolder", user.id, "sms:+1", "sms:+2", "hi", [], DONE, now - timedelta(hours=2), None)
    assert store.last_inbound(user.id) == LastInbound(
        f"whatsapp:{user.phone}", "whatsapp:+1415", now - timedelta(hours=1)
    )
    first = store.save_plan(user.id, "2026-11-30", "2026-11-30", {"days": 1}, {}, now)
    second = store.save_plan(user.id, "2026-12-07", "2026-12-07", {"days": 2}, {}, now + timedelta(seconds=1))
    assert [p.id for p in store.plans_changed_since(now - timedelta(seconds=1))] == [first.id, second.id]
    assert store.plans_changed_since(now + timedelta(seconds=1)) == []  # strictly after
    store.update_plan(first.id, now + timedelta(seconds=2), have=["rice"])
    changed = store.plans_changed_since(now + timedelta(seconds=1))
    assert [(p.id, p.have) for p in changed] == [(first.id, ("rice",))]
    store.save_plan(user.id, "2026-12-07", "2026-12-08", {"days": 3}, {}, now + timedelta(seconds=3))  # replaced
    assert [p.plan for p in store.plans_changed_since(now + timedelta(seconds=2))] == [{"days": 3}]


def test_delete_user_removes_their_jobs_and_calendar_and_the_export_shows_them(store):
    user, other, now = person(store), person(store, "+15550002"), utcnow()
    for who in (user, other):
        store.schedule_job(f"checkin:{who.id}:2026-11-30", who.id, "checkin", now, {"week": "2026-11-30"}, now)
        store.set_feed(who.id, f"{who.id:064d}", now)
        store.set_google(who.id, now, google_refresh_token=b"sealed", google_status="connected")
    store.set_timezone(user.id, "Europe/Berlin", "person", now)
    export = store.export_user(user.id)
    [job] = export["scheduled_messages"]
    assert job["key"] == f"checkin:{user.id}:2026-11-30" and job["payload"] == {"week": "2026-11-30"}
    [settings] = export["calendar"]
    assert settings["zone_source"] == "person" and settings["google_status"] == "connected"
    assert "feed_token_sha256" not in settings and "google_refresh_token" not in settings  # secrets, not data
    before_other = store.export_user(other.id)

    store.delete_user(user.id)

    left = store.export_user(user.id)
    assert left["user"] is None and not any(v for v in left.values() if isinstance(v, list))
    assert store.jobs(user.id) == [] and store.calendar_person(user.id) == CalendarPersonRecord(user.id)
    assert store.feed_owner(f"{user.id:064d}") is None and store.feed_owner(f"{other.id:064d}") == other.id
    assert store.google_connected() == [other.id]
    assert store.export_user(other.id) == before_other
    due = store.claim_due_jobs(now + timedelta(seconds=1), now + timedelta(seconds=30), 10)
    assert [j.user_id for j in due] == [other.id]
    newcomer = person(store, "+15550003")  # the key is free again
    assert store.schedule_job(f"checkin:{user.id}:2026-11-30", newcomer.id, "checkin", now, {}, now) is True
