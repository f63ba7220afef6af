"""What only the DynamoDB store has: its URL, `python -m bot.admin create-tables`, the start-up check, and the
bot end to end on it (webhook → analysis → meal → reply) against a DynamoDB-compatible server on loopback."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from dynamodb_server import dynamodb_endpoint, table_url
from typer.testing import CliRunner

from bot.admin import app as admin
from bot.storage.dynamo.base import SchemaMissing
from bot.storage.dynamo.store import DynamoStore
from bot.storage.dynamo.table import INDEXES, TTL_ATTRIBUTE, DynamoUrl, DynamoUrlError
from bot.storage.factory import make_store
from bot.storage.records import PENDING, utcnow
from bot.storage.sql.store import SqlStore

__all__ = ["dynamodb_endpoint"]  # the fixture, imported for pytest


def test_the_url_names_region_table_endpoint_and_page_size():
    url = DynamoUrl.parse("dynamodb://eu-west-1?table=coach&endpoint=http://127.0.0.1:8000&page_size=50")
    assert url == DynamoUrl("eu-west-1", "coach", "http://127.0.0.1:8000", 50)
    assert DynamoUrl.parse("dynamodb://us-east-1?table=coach").endpoint is None
    for bad, why in (
        ("dynamodb://?table=x", "no region"),
        ("dynamodb://us-east-1", "no table"),
        ("dynamodb://us-east-1?table=x&tabel=y", "unknown options"),
        ("dynamodb://us-east-1?table=x&page_size=0", "page_size"),
    ):
        with pytest.raises(DynamoUrlError, match=why):
            DynamoUrl.parse(bad)


def test_make_store_picks_the_adapter_by_url(tmp_path):
    assert isinstance(make_store("dynamodb://us-east-1?table=x&endpoint=http://127.0.0.1:9"), DynamoStore)
    sql = make_store(f"sqlite:///{tmp_path / 'bot.db'}")
    assert isinstance(sql, SqlStore)
    sql.dispose()


def test_create_tables_is_idempotent_and_turns_ttl_on(dynamodb_endpoint):
    url = table_url(dynamodb_endpoint)
    store = DynamoStore(url)
    with pytest.raises(SchemaMissing, match="create-tables"):  # the bot never creates it itself
        store.create_schema()
    runner = CliRunner()
    first = runner.invoke(admin, ["create-tables", "--database-url", url])
    again = runner.invoke(admin, ["create-tables", "--database-url", url])
    assert first.exit_code == again.exit_code == 0, first.output + again.output
    assert " created " in first.output and "exists already" in again.output
    store.create_schema()
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=dynamodb_endpoint)
    table = client.describe_table(TableName=store.table.name)["Table"]
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == list(INDEXES)
    ttl = client.describe_time_to_live(TableName=store.table.name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == TTL_ATTRIBUTE
    sql = runner.invoke(admin, ["create-tables", "--database-url", "sqlite:///x.db"])
    assert sql.exit_code == 1 and "migrate" in sql.output


def test_a_throttled_table_is_retried_by_the_sdk_and_the_write_lands_once(dynamodb_endpoint):
    """The local server's throttle fault (benchmarks/faults.py uses it): every request refused for a while with
    ProvisionedThroughputExceededException; botocore backs off and retries, the conditional insert still holds."""
    import urllib.request

    store = DynamoStore(table_url(dynamodb_endpoint))
    store.create_tables()
    user = store.get_or_create_user("+15550001", "free", "UTC")
    throttle = urllib.request.Request(f"{dynamodb_endpoint}/faults/throttle?seconds=0.5", method="POST")
    urllib.request.urlopen(throttle, timeout=5)
    message, created = store.record_inbound("SMthr", user.id, "a", "b", "hi", [], PENDING, utcnow(), None)
    assert created and store.get_message("SMthr").id == message.id
    with urllib.request.urlopen(f"{dynamodb_endpoint}/healthz", timeout=5) as answer:
        assert b'"throttled": 0' not in answer.read()  # it was refused at least once, and retried
    assert store.record_inbound("SMthr", user.id, "a", "b", "hi", [], PENDING, utcnow(), None)[1] is False
    store.dispose()


def test_the_bot_answers_webhooks_on_dynamodb(make_bot, dynamodb_endpoint):
    url = table_url(dynamodb_endpoint)
    DynamoStore(url).create_tables()
    bot = make_bot(database_url=url)
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    first = bot.post(form)
    again = bot.post(form)  # Twilio's retry of the same MessageSid
    assert first.status_code == again.status_code == 200
    assert "Apple ~180 g" in first.text and again.text == first.text
    assert bot.model.standin.calls == 1 and len(bot.store.meals(bot.user_id())) == 1
    assert bot.event_kinds(form["MessageSid"]).count("duplicate") == 1
    assert bot.send("undo")  # a text command on the same store
    assert bot.store.meals(bot.user_id()) == []
    assert bot.store.get_message(form["MessageSid"]).status == "done"


def test_a_delete_that_dies_midway_is_finished_by_running_it_again(dynamodb_endpoint, monkeypatch):
    store = DynamoStore(table_url(dynamodb_endpoint, page_size=2))
    store.create_tables()
    now = utcnow()
    user = store.get_or_create_user("+15550009", "free", "UTC")
    for i in range(3):
        message, _ = store.record_inbound(
            f"SMdel{i}", user.id, "whatsapp:+15550009", "w:+1", "", [], PENDING, now, None
        )
        store.add_event("received", now, message.sid, user.id)
        store.save_meal(message.id, user.id, "2026-12-03", now, [], {}, [])
        store.schedule_job(f"cooking:{user.id}:{i}", user.id, "cooking", now, {}, now)
    store.set_feed(user.id, "f" * 64, now)
    real = store.table.delete_all

    def dies_halfway(keys):
        real(keys[: len(keys) // 2])
        raise ConnectionError("the process died")

    monkeypatch.setattr(store.table, "delete_all", dies_halfway)
    with pytest.raises(ConnectionError):
        store.delete_user(user.id)
    monkeypatch.setattr(store.table, "delete_all", real)
    assert store.user_by_phone("+15550009") == user  # half deleted, still findable: the delete is run again
    store.delete_user(user.id)
    assert store.export_user(user.id)["user"] is None
    assert not any(v for v in store.export_user(user.id).values() if isinstance(v, list))
    # the pointers outside the person's partition went too: job keys, jobs by id, the feed token
    assert [store.table.get(f"JOBKEY#cooking:{user.id}:{i}", "JOBKEY") for i in range(3)] == [None] * 3
    assert store.feed_owner("f" * 64) is None and not list(store.table.scan("job_pointer"))
    assert store.get_or_create_user("+15550009", "free", "UTC").id != user.id


def test_a_job_key_left_by_a_dead_delete_is_freed_when_the_key_is_scheduled_again(dynamodb_endpoint):
    store = DynamoStore(table_url(dynamodb_endpoint))
    store.create_tables()
    now = utcnow()
    user = store.get_or_create_user("+15550011", "free", "UTC")
    store.schedule_job("checkin:x", user.id, "checkin", now, {}, now)
    store.table.delete(f"USER#{user.id}", "JOB#checkin:x")  # the delete died after the job, before its key
    assert store.schedule_job("checkin:x", user.id, "checkin", now, {"again": True}, now) is True
    [job] = store.jobs(user.id)
    assert job.payload == {"again": True} and store.claim_due_jobs(now, now, 10)[0].id == job.id


def test_the_costs_report_reads_dynamodb(dynamodb_endpoint, monkeypatch):
    from bot.ledger import Ledger, period_keys
    from bot.settings import BotSettings

    url = table_url(dynamodb_endpoint, page_size=2)
    store = DynamoStore(url)
    store.create_tables()
    settings = BotSettings(vision_cost_usd_per_photo=0.01)
    ledger, now, people = Ledger(store, settings), utcnow(), []
    for i, ai_usd in enumerate((0.3, 0.01, 0.02)):
        user = store.get_or_create_user(f"+1555030{i}", "free", "UTC")
        ledger.record_ai_usage(user, 100, 50, ai_usd, now)
        people.append(user)
    assert ledger.reserve_photos(people[0], 1, now) is None
    monkeypatch.setenv("BOT_COST_ALERT_PERSON_USD", "0.25")
    monkeypatch.setenv("BOT_VISION_COST_USD_PER_PHOTO", "0.01")
    day = period_keys(now, "UTC")["day"]
    result = CliRunner().invoke(admin, ["costs", "--day", day, "--database-url", url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"costs on {day}: $0.3400 for 3 people") and "vision $0.0100" in lines[0]
    heavy = next(line for line in lines if f"user {people[0].id} " in line)
    assert "total $0.3100" in heavy and "over the alert" in heavy and "+15550300" not in result.output


def test_a_phone_claim_left_by_a_dead_delete_does_not_block_the_number(dynamodb_endpoint, monkeypatch):
    store = DynamoStore(table_url(dynamodb_endpoint))
    store.create_tables()
    user = store.get_or_create_user("+15550010", "free", "UTC")
    monkeypatch.setattr(store.table, "delete", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("died")))
    with pytest.raises(ConnectionError):  # died after the person's item, before their phone claim
        store.delete_user(user.id)
    monkeypatch.undo()
    assert store.table.get("PHONE#+15550010", "PHONE") is not None and store.user_by_phone("+15550010") is None
    again = store.get_or_create_user("+15550010", "free", "UTC")
    assert again.id != user.id and store.user_by_phone("+15550010") == again


def test_a_claim_from_a_stale_index_copy_never_takes_a_job_someone_holds(dynamodb_endpoint, monkeypatch):
    """GSI2 is eventually consistent: a scheduler may read a job's old copy (due, or under an expired lease) after
    another took it. Its conditional update on the item refuses, whatever the copy says."""
    store = DynamoStore(table_url(dynamodb_endpoint))
    store.create_tables()
    now, lease = utcnow(), utcnow() + timedelta(seconds=30)
    user = store.get_or_create_user("+15550012", "free", "UTC")
    for key in ("cooking:due", "cooking:sending"):
        store.schedule_job(key, user.id, "cooking", now, {}, now)
    sending = next(j for j in store.jobs(user.id) if j.key == "cooking:sending")
    store.claim_due_jobs(now, now, 10)  # both leased until `now`: the sending one's lease runs out at once
    store.finish_job(next(j for j in store.jobs(user.id) if j.key == "cooking:due").id, "pending", now, due_at=now)
    stale = list(store.table.query("DUE#JOB", index="GSI2"))  # the copies a slow index still serves
    later = now + timedelta(seconds=1)
    assert sorted(j.key for j in store.claim_due_jobs(later, lease, 10)) == ["cooking:due", "cooking:sending"]
    real = store.table.query
    monkeypatch.setattr(store.table, "query", lambda pk, **kw: iter(stale) if pk == "DUE#JOB" else real(pk, **kw))
    assert store.claim_due_jobs(later + timedelta(seconds=1), lease, 10) == []  # both held by the first
    assert {j.id: j.attempts for j in store.jobs(user.id)}[sending.id] == 2
