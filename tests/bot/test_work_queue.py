"""The work queue on SQS (BOT_WORK_QUEUE=sqs) against a real SQS-compatible server started here (moto's, on
127.0.0.1): items round-trip, come back after their visibility timeout, and the store's claims make a reply
redelivered by SQS, or taken by two replicas at once, reach Twilio once."""

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from dynamodb_server import dynamodb_endpoint, table_url
from waiting import wait_for

from bot.channel.delivery import Delivery
from bot.channel.messenger import Messenger
from bot.devtools.standins import free_port
from bot.storage.factory import make_store
from bot.storage.records import DONE, PENDING, MediaRef, utcnow
from bot.storage.sql.outbox import QUEUED, SENDING, SENT
from bot.storage.sql.store import SqlStore
from bot.workqueue.consumer import QueueWorkers, WorkConsumer, WorkSweep
from bot.workqueue.hooks import QueueingStore
from bot.workqueue.sqs import BadWorkItem, SqsQueue, WorkItem

TO, FROM = "whatsapp:+15550001", "whatsapp:+14155238886"
__all__ = ["dynamodb_endpoint"]  # the fixture, imported for pytest


@pytest.fixture(scope="module")
def sqs_server():
    """moto's server (a real HTTP server speaking the SQS API) on a free loopback port."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def sqs(sqs_server, monkeypatch):
    """A fresh queue on the server: (its URL, the server's URL). Fake keys; no proxy, no profile."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(key, raising=False)
    import boto3

    client = boto3.client("sqs", endpoint_url=sqs_server, region_name="us-east-1")
    url = client.create_queue(QueueName=f"bot-work-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return url, sqs_server


def queue_of(sqs) -> SqsQueue:
    return SqsQueue(sqs[0], endpoint_url=sqs[1])


def receive_all(queue: SqsQueue, visibility_s: int = 30, wait_s: int = 1) -> list:
    return queue.receive(10, wait_s, visibility_s)


@pytest.fixture
def store(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    yield store
    store.dispose()


def a_reply(store, sid="SM1", lease_s: float | None = None):
    """An outbox row leased for `lease_s` (None: to no one, due now, as a billing notice is queued)."""
    user = store.get_or_create_user("+15550001", "free", "UTC")
    now = utcnow()
    lease = None if lease_s is None else now + timedelta(seconds=lease_s)
    return store.enqueue_outbound(sid, "reply", TO, FROM, f"answer to {sid}", now, lease, user.id)


def test_an_item_goes_round_trip_and_a_deleted_one_never_comes_back(sqs):
    queue = queue_of(sqs)
    items = [(WorkItem("reply", str(i)), 0.0) for i in range(12)] + [(WorkItem("message", "SMabc"), 0.0)]
    assert queue.send(items) == 13  # two batches
    seen = []
    for _ in range(5):
        got = receive_all(queue, visibility_s=1)
        seen += got
        queue.delete(r.receipt for r in got)
        if len(seen) >= 13:
            break
    assert sorted((r.item.kind, r.item.key) for r in seen) == sorted((i.kind, i.key) for i, _ in items)
    time.sleep(1.5)  # past the visibility timeout: a deleted item does not come back
    assert receive_all(queue, wait_s=0) == []


def test_an_item_not_deleted_comes_back_after_its_visibility_timeout(sqs):
    queue = queue_of(sqs)
    queue.send([(WorkItem("reply", "7"), 0.0)])
    first = receive_all(queue, visibility_s=1)
    assert [r.item for r in first] == [WorkItem("reply", "7")] and first[0].receive_count == 1
    assert receive_all(queue, wait_s=0) == []  # hidden meanwhile
    again = receive_all(queue, wait_s=3)
    assert [r.message_id for r in again] == [first[0].message_id] and again[0].receive_count == 2
    queue.hide(again[0].receipt, 60)  # not due for a minute: hidden that long
    time.sleep(1.5)
    assert receive_all(queue, wait_s=0) == []


def test_a_foreign_body_is_no_work_item(sqs):
    for body in ("hello", '{"kind": "reply", "key": "x1"}', '{"kind": "other", "key": "1"}', "[]"):
        with pytest.raises(BadWorkItem):
            WorkItem.parse(body)
    queue = queue_of(sqs)
    queue.client.send_message(QueueUrl=queue.queue_url, MessageBody="not ours")
    (got,) = receive_all(queue)
    assert got.item is None and got.body == "not ours"


def test_the_store_claims_an_item_only_when_it_is_due(store):
    user = store.get_or_create_user("+15550001", "free", "UTC")
    now = utcnow()
    held = now + timedelta(seconds=60)
    media = [MediaRef("u", "image/jpeg")]
    store.record_inbound("SM1", user.id, TO, FROM, "", media, PENDING, now, held)
    assert store.claim_message_if_due("SM1", now, now + timedelta(seconds=5)) == (None, held)  # its worker lives
    later = now + timedelta(seconds=30)
    store.schedule_retry("SM1", "model down", later, now)
    assert store.claim_message_if_due("SM1", now, now + timedelta(seconds=5)) == (None, later)
    assert store.overdue_work(now, 10) == ([], [])
    assert store.overdue_work(later, 10)[0] == ["SM1"]
    message, _ = store.claim_message_if_due("SM1", later, later + timedelta(seconds=5))
    assert message.sid == "SM1" and message.attempts == 2
    assert store.claim_message_if_due("SM1", later, later)[0] is None  # leased to the first taker
    store.finish_message("SM1", DONE, None, later)
    assert store.claim_message_if_due("SM1", later, later) == (None, None)
    assert store.claim_message_if_due("SM-unknown", later, later) == (None, None)

    row = a_reply(store, "SM1", lease_s=60)
    lease_end = store.claim_outbound_if_due(row.id, now, now)[1]
    assert lease_end is not None and lease_end > now  # the webhook that wrote it may still answer it
    after = lease_end + timedelta(seconds=1)
    assert store.overdue_work(after, 10)[1] == [row.id]
    taken, _ = store.claim_outbound_if_due(row.id, after, after + timedelta(seconds=5))
    # a lease expired on a queued row: it may have gone out in a TwiML answer, so Twilio is asked first
    assert taken.id == row.id and taken.unknown_since is not None
    assert store.claim_outbound_if_due(row.id, after, after)[0] is None
    store.mark_outbound(row.id, SENT, after, twilio_sid="SMx")
    assert store.claim_outbound_if_due(row.id, after, after) == (None, None)
    assert store.claim_outbound_if_due(10**6, after, after) == (None, None)


def test_items_are_enqueued_after_the_commit_and_not_after_a_rollback(store, sqs):
    queued = QueueingStore(store, queue_of(sqs))
    user = store.get_or_create_user("+15550001", "free", "UTC")
    now = utcnow()
    with pytest.raises(RuntimeError), queued.unit_of_work():
        queued.enqueue_outbound("SM1", "reply", TO, FROM, "hi", now, now, user.id)
        raise RuntimeError("the transaction fails")
    assert store.outbound() == [] and receive_all(queued.queue, wait_s=0) == []

    with queued.unit_of_work():
        row = queued.enqueue_outbound("SM2", "reply", TO, FROM, "hi", now, now, user.id)
        with queued.unit_of_work():  # a nested unit joins the outer one
            queued.schedule_retry("SM9", "model down", now, now)
        assert receive_all(queued.queue, wait_s=0) == []  # nothing before the commit
    got = receive_all(queued.queue)
    assert sorted((r.item.kind, r.item.key) for r in got) == [("message", "SM9"), ("reply", str(row.id))]
    queued.mark_outbound(row.id, QUEUED, now, error="500", next_attempt_at=now)  # outside a unit: sent at once
    assert [r.item for r in receive_all(queued.queue)] == [WorkItem("reply", str(row.id))]


def replica(tmp_path, sqs, twilio_api, **overrides):
    """One bot replica's queue side: its own store connection on the shared file, its own SQS client."""
    from bot.settings import BotSettings

    values = dict(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="test-auth-token-0123456789abcdef",
        twilio_api_base_url=twilio_api.url,
        work_queue="sqs",
        sqs_queue_url=sqs[0],
        sqs_endpoint_url=sqs[1],
        sqs_wait_s=1,
        sqs_visibility_s=1,
        lease_s=1.0,
        retry_base_s=0.2,
        retry_max_s=1.0,
        work_grace_s=0.0,
    )
    settings = BotSettings(**(values | overrides))
    store = QueueingStore(make_store(settings.database_url), queue_of(sqs))
    messenger = Messenger(settings.twilio_account_sid, "test-auth-token-0123456789abcdef", twilio_api.url)
    delivery = Delivery(settings, store, messenger)
    return WorkConsumer(settings, store.queue, store, None, delivery)


async def pass_of(consumer: WorkConsumer) -> int:
    busy = await consumer.run_once()
    await consumer.finish(30)
    return busy


def sent_to_twilio(twilio_api, body: str) -> int:
    return sum(1 for m in twilio_api.standin.messages if m["body"] == body)


def work_through(consumers, rounds: int = 20) -> None:
    """Run every consumer's passes side by side until the queue is empty (hidden items included)."""

    async def go():
        for _ in range(rounds):
            busy = await asyncio.gather(*(pass_of(c) for c in consumers))
            if not any(busy) and not any(consumers[0].queue.depth().values()):
                return

    asyncio.run(go())


@pytest.fixture(params=["sqlite", "dynamodb"])
def shared_store(request, tmp_path) -> str:
    """The URL of the store the replicas share: a SQLite file, or a table on a DynamoDB-compatible server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    url = table_url(request.getfixturevalue("dynamodb_endpoint"))
    store = make_store(url)
    store.create_tables()
    store.dispose()
    return url


def test_two_consumers_never_both_send_one_reply(tmp_path, sqs, twilio_api, shared_store):
    first = replica(tmp_path, sqs, twilio_api, database_url=shared_store)
    second = replica(tmp_path, sqs, twilio_api, database_url=shared_store)
    first.store.create_schema()
    rows = [a_reply(first.store, f"SM{i}") for i in range(6)]  # each enqueued once by its write
    # and each once more by a sweep (as from a replica that found them overdue): two items per reply
    asyncio.run(WorkSweep(second.settings, second.queue, second.store).run_once())
    work_through([first, second])
    for row in rows:
        assert sent_to_twilio(twilio_api, row.body) == 1
        assert first.store.outbound(row.message_sid)[0]["status"] == SENT
    assert len(twilio_api.standin.messages) == 6
    assert not any(first.queue.depth().values())  # every item deleted, the duplicates too


def test_a_crash_between_the_send_and_the_delete_sends_once(tmp_path, sqs, twilio_api):
    dead, alive = replica(tmp_path, sqs, twilio_api), replica(tmp_path, sqs, twilio_api)
    dead.store.create_schema()
    row = a_reply(dead.store, "SM1")
    (got,) = receive_all(
        dead.queue, visibility_s=1
    )  # the first replica takes the item, sends the reply, and dies: no delete
    assert asyncio.run(dead.handle(got.item)) is None and sent_to_twilio(twilio_api, row.body) == 1
    work_through([alive])  # the item comes back to the other replica after its visibility timeout
    assert sent_to_twilio(twilio_api, row.body) == 1 and alive.store.outbound("SM1")[0]["status"] == SENT

    # It dies a step earlier: Twilio took the message, the row still says `sending`.
    row = a_reply(dead.store, "SM2")
    (got,) = receive_all(dead.queue, visibility_s=1)
    claimed, _ = dead.store.claim_outbound_if_due(row.id, utcnow(), utcnow() + timedelta(seconds=1))
    assert claimed is not None and got.item == WorkItem("reply", str(row.id))
    dead.delivery.messenger.send(row.to_addr, row.from_addr, row.body)
    assert dead.store.outbound("SM2")[0]["status"] == SENDING
    time.sleep(1.2)  # its lease and the item's visibility run out
    work_through([alive])
    assert sent_to_twilio(twilio_api, row.body) == 1  # found at Twilio, not sent again
    assert alive.store.outbound("SM2")[0]["status"] == SENT
    found = [e.detail for e in alive.store.events("SM2") if e.kind == "replied"]
    assert found and found[0].get("found_after_crash") is True


def test_the_sweep_enqueues_what_the_queue_lost(tmp_path, sqs, twilio_api):
    consumer = replica(tmp_path, sqs, twilio_api)
    plain = consumer.store.inner  # written without telling the queue: as if the item was lost
    plain.create_schema()
    row = a_reply(plain, "SM1")
    work_through([consumer], rounds=1)
    assert sent_to_twilio(twilio_api, row.body) == 0  # the queue never heard of it
    sweep = WorkSweep(consumer.settings.model_copy(update={"sqs_visibility_s": 60}), consumer.queue, consumer.store)
    assert asyncio.run(sweep.run_once()) == 1
    assert asyncio.run(sweep.run_once()) == 0  # enqueued lately: not again (a backlog must not copy itself)
    assert consumer.queue.depth()["visible"] == 1
    work_through([consumer])
    assert sent_to_twilio(twilio_api, row.body) == 1


def test_a_failed_send_is_enqueued_again_for_its_next_try(tmp_path, sqs, twilio_api):
    consumer = replica(tmp_path, sqs, twilio_api)
    consumer.store.create_schema()
    twilio_api.standin.fail_sends = 1
    row = a_reply(consumer.store, "SM1")
    work_through([consumer])
    assert sent_to_twilio(twilio_api, row.body) == 1
    outbound = consumer.store.outbound("SM1")[0]
    assert outbound["status"] == SENT and outbound["attempts"] == 2
    assert [e.kind for e in consumer.store.events("SM1")] == ["reply_failed", "replied"]


def test_the_app_retries_a_pending_photo_through_the_queue(make_bot, model_server, sqs):
    bot = make_bot(work_queue="sqs", sqs_queue_url=sqs[0], sqs_endpoint_url=sqs[1], sqs_wait_s=1, retry_base_s=0.5)
    assert isinstance(bot.server.app.state.worker, QueueWorkers)  # no in-process retry worker polls the database
    model_server.standin.fail_status = 503
    first = bot.send_photo()
    assert "retry" in " ".join(first).lower()  # "couldn't analyse it, will retry"
    model_server.standin.fail_status = None
    (result,) = bot.twilio.standin.wait_for_messages(1, timeout_s=30)
    assert result["body"].startswith("Apple")
    sid = bot.store.outbound()[0]["message_sid"]
    assert bot.store.get_message(sid).status == DONE
    # the result reaches Twilio a moment before its delivery is written down: wait for the event, not the message
    kinds = wait_for(lambda: (k := bot.event_kinds(sid)).count("replied") == 2 and k, "the result's reply recorded")
    assert kinds.count("analysed") == 1  # the TwiML "will retry", then the result


def test_both_stores_implement_work_store_and_the_wrapper_keeps_the_signatures():
    import inspect

    from bot.storage.protocols import WorkStore

    def params(fn):
        return list(inspect.signature(fn).parameters)

    from bot.storage.dynamo.store import DynamoStore

    for name, declared in vars(WorkStore).items():
        if not name.startswith("_") and callable(declared):
            assert params(getattr(SqlStore, name)) == params(declared), name
            assert params(getattr(DynamoStore, name)) == params(declared), name
    for name in ("schedule_retry", "enqueue_outbound", "mark_outbound"):  # the writes the wrapper hooks
        assert params(getattr(QueueingStore, name)) == params(getattr(SqlStore, name)), name


def test_the_sqs_queue_needs_its_url_and_a_store_that_can_claim_items(sqs):
    from pydantic import ValidationError

    from bot.settings import BotSettings
    from bot.workqueue.setup import with_work_queue

    with pytest.raises(ValidationError, match="BOT_SQS_QUEUE_URL"):
        BotSettings(work_queue="sqs")
    settings = BotSettings(work_queue="sqs", sqs_queue_url=sqs[0], sqs_endpoint_url=sqs[1])
    with pytest.raises(TypeError, match="claim_message_if_due"):
        with_work_queue(settings, object())
    plain = object()
    assert with_work_queue(BotSettings(), plain) is plain  # in-process: the store itself, no AWS part
