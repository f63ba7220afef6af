"""The SQLAlchemy store on a SQLite file: idempotency, atomic counters under threads, totals, leases."""

import inspect
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Protocol

import pytest

from bot.storage import protocols
from bot.storage.records import PENDING, Bucket, ItemRecord, MediaRef, utcnow
from bot.storage.sql.store import SqlStore


@pytest.fixture
def store(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'nested' / 'bot.db'}")
    store.create_schema()
    yield store
    store.dispose()


def apple(kcal=94.0) -> ItemRecord:
    return ItemRecord(0, "apple", "Apple", 180, 150, 210, kcal, 0.5, 0.3, 25.0, 0.9)


def message(store, sid="SM1", lease=None):
    user = store.get_or_create_user("+15550001", "free", "UTC")
    now = utcnow()
    record, created = store.record_inbound(
        sid, user.id, "whatsapp:+15550001", "whatsapp:+1415", "", [MediaRef("u", "image/jpeg")], PENDING, now, lease
    )
    return user, record, created


def test_a_message_sid_is_recorded_once(store):
    _, first, created = message(store)
    _, again, created_again = message(store)
    assert created and not created_again and again.id == first.id


def test_counters_never_pass_the_limit_under_concurrency(store):
    user = store.get_or_create_user("+15550001", "free", "UTC")
    buckets = [Bucket("day", "2026-11-24", 5), Bucket("month", "2026-11", 100)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        refused = list(pool.map(lambda _: store.consume(user.id, buckets, "photos", 1), range(24)))
    assert sum(r is None for r in refused) == 5
    assert store.usage(user.id, "day", "2026-11-24")["photos"] == 5
    assert store.usage(user.id, "month", "2026-11")["photos"] == 5  # refused ones added nowhere


def test_consume_is_all_or_nothing_across_periods(store):
    user = store.get_or_create_user("+15550001", "free", "UTC")
    refused = store.consume(user.id, [Bucket("day", "d", 10), Bucket("month", "m", 2)], "photos", 3)
    assert refused == Bucket("month", "m", 2)
    assert store.usage(user.id, "day", "d")["photos"] == 0


def test_saving_a_meal_twice_for_one_message_logs_it_once(store):
    user, msg, _ = message(store)
    now = utcnow()
    first, totals = store.save_meal(msg.id, user.id, "2026-11-24", now, [apple()], {}, [])
    again, totals_again = store.save_meal(msg.id, user.id, "2026-11-24", now, [apple()], {}, [])
    assert again.id == first.id and totals_again == totals
    assert (totals.meals, totals.kcal) == (1, 94.0)
    assert len(store.meals(user.id)) == 1


def test_undo_removes_the_last_meal_from_the_day(store):
    user = store.get_or_create_user("+15550001", "free", "UTC")
    now = utcnow()
    for i, kcal in enumerate((94.0, 300.0)):
        _, msg, _ = message(store, sid=f"SM{i}")
        store.save_meal(msg.id, user.id, "2026-11-24", now + timedelta(seconds=i), [apple(kcal)], {}, [])
    undone = store.undo_last_meal(user.id, now)
    assert undone.kcal == 300.0
    assert store.day_totals(user.id, "2026-11-24").kcal == 94.0
    assert store.undo_last_meal(user.id, now).kcal == 94.0
    assert store.day_totals(user.id, "2026-11-24").meals == 0 and store.undo_last_meal(user.id, now) is None
    assert len(store.meals(user.id, include_deleted=True)) == 2  # kept for the record, out of the totals


def test_a_leased_message_is_claimed_by_one_worker_only_after_its_lease(store):
    now = utcnow()
    message(store, sid="SM-leased", lease=now + timedelta(seconds=60))
    message(store, sid="SM-free")
    later = now + timedelta(seconds=1)
    with ThreadPoolExecutor(max_workers=4) as pool:
        claims = list(pool.map(lambda _: store.claim_due_messages(later, later + timedelta(seconds=30), 10), range(4)))
    claimed = [m.sid for claim in claims for m in claim]
    assert claimed == ["SM-free"]
    assert store.get_message("SM-free").attempts == 1
    expired = now + timedelta(seconds=120)
    assert [m.sid for m in store.claim_due_messages(expired, expired, 10)] == ["SM-leased", "SM-free"]


def test_an_outbound_reply_is_queued_once(store):
    now = utcnow()
    first = store.enqueue_outbound("SM1", "result", "to", "from", "hi", now, now)
    assert first is not None
    assert store.enqueue_outbound("SM1", "result", "to", "from", "hi", now, now) is None
    assert store.enqueue_outbound("SM1", "failed", "to", "from", "hi", now, now) is not None


def test_the_sql_store_implements_each_protocol_as_declared():
    subjects = [p for p in protocols.BotStore.__mro__[1:] if Protocol in p.__bases__]
    assert len(subjects) == 15
    for subject in subjects:
        for name, declared in vars(subject).items():
            if not name.startswith("_") and callable(declared):
                implemented = inspect.signature(getattr(SqlStore, name)).parameters
                assert list(implemented) == list(inspect.signature(declared).parameters), f"{subject.__name__}.{name}"
