"""Schema migrations on SQLite files: data kept through upgrades, pre-migration databases, concurrent starts, CLI."""

import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import String, inspect, text
from typer.testing import CliRunner

from bot.admin import app
from bot.storage.records import DONE, PENDING, Bucket, ItemRecord, MediaRef
from bot.storage.sql import migrate
from bot.storage.sql import tables as t
from bot.storage.sql.store import SqlStore

NOW = datetime(2026, 11, 24, 12, 0)
DAY = "2026-11-24"
PERIODS = (("day", DAY), ("month", "2026-11"))


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'data' / 'bot.db'}"


@pytest.fixture
def stores():
    opened = []

    def open_store(url):
        opened.append(SqlStore(url))
        return opened[-1]

    yield open_store
    for store in opened:
        store.dispose()


def make_legacy(store) -> None:
    """A database as `create_all` made it before migrations: 0001 emits that very DDL, without its version table."""
    migrate.upgrade(store.engine, migrate.BASELINE)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE {migrate.VERSION_TABLE}")


def food(kcal: float) -> ItemRecord:
    return ItemRecord(0, "apple", "Apple", 180, 150, 210, kcal, 0.5, 0.3, 25.0, 0.9)


def fill(store) -> list[int]:
    """Two people with a profile, a pending question, three photo messages and meals (one undone), events, usage."""
    alice = store.get_or_create_user("+15550001", "free", "UTC")
    bob = store.get_or_create_user("+15550002", "standard", "Europe/Paris")
    store.set_opted_out(bob.id, True)
    store.update_profile(alice.id, NOW, goal="lose", allergens=["peanuts"], weight_kg=70.5, asked={"goal": DAY})
    store.set_clarification(bob.id, "grams", {"food": "rice"}, NOW)
    for i, (user, kcal) in enumerate(((alice, 94.0), (alice, 300.0), (bob, 520.0))):
        sid, media = f"SM{i}", [MediaRef(f"https://media.test/{i}", "image/jpeg")]
        message, _ = store.record_inbound(
            sid, user.id, f"whatsapp:{user.phone}", "whatsapp:+1415", "", media, PENDING, NOW, None
        )
        photos = [{"url": media[0].url, "content_type": "image/jpeg", "bytes": 10, "sha256": f"{i:064x}"}]
        eaten = NOW + timedelta(minutes=i)
        store.save_meal(message.id, user.id, DAY, eaten, [food(kcal), food(kcal / 2)], {"detector": {"v": 1}}, photos)
        store.finish_message(sid, DONE, "<Response/>", NOW)
        store.add_event("analysed", NOW, message_sid=sid, user_id=user.id, detail={"items": 2})
    store.undo_last_meal(alice.id, NOW)  # kept for the record, out of the day's totals
    store.add_usage(alice.id, [Bucket(*p) for p in PERIODS], {"messages": 3, "ai_input_tokens": 1200})
    store.consume(bob.id, [Bucket("day", DAY, 3)], "photos", 1)
    store.add_stored_photos(alice.id, [{"sha256": "a" * 64, "content_type": "image/jpeg", "bytes": 1234}], NOW)
    return [alice.id, bob.id]


def seen(store, user_ids: list[int]) -> dict:
    """Everything `fill` stored, read back through the store."""
    people = {
        user_id: (
            store.get_user(user_id),
            store.get_profile(user_id),
            store.get_clarification(user_id),
            store.meals(user_id, include_deleted=True),
            store.day_totals(user_id, DAY),
            # not usage: the store reads revision 0004's counters, absent before it (`assert_kept` compares the rows)
            store.stored_photos(user_id),
        )
        for user_id in user_ids
    }
    return {"people": people, "messages": [store.get_message(f"SM{i}") for i in range(3)], "events": store.events()}


def rows(engine) -> dict[str, list[dict]]:
    """Every row of every table, as the database holds it."""
    with engine.connect() as connection:
        names = [name for name in inspect(connection).get_table_names() if name != migrate.VERSION_TABLE]
        query = 'SELECT * FROM "{}"'.format
        return {
            name: sorted((dict(r._mapping) for r in connection.execute(text(query(name)))), key=repr) for name in names
        }


def assert_kept(before: dict[str, list[dict]], after: dict[str, list[dict]]) -> None:
    for table, old in before.items():
        columns = list(old[0]) if old else []  # a later revision may add columns: compare the old ones
        assert sorted(({c: row[c] for c in columns} for row in after[table]), key=repr) == old, table


def assert_filled(store, user_ids: list[int]) -> None:
    alice, bob = (store.get_user(user_id) for user_id in user_ids)
    assert (alice.phone, alice.tier, bob.tier, bob.opted_out) == ("+15550001", "free", "standard", True)
    assert store.get_profile(alice.id).allergens == ("peanuts",)
    meals = store.meals(alice.id, include_deleted=True)
    assert [len(meal.items) for meal in meals] == [2, 2] and len(store.meals(alice.id)) == 1
    assert (store.day_totals(alice.id, DAY).meals, store.day_totals(alice.id, DAY).kcal) == (1, 141.0)
    assert store.usage(alice.id, "month", "2026-11")["ai_input_tokens"] == 1200
    assert store.usage(bob.id, "day", DAY)["photos"] == 1
    assert store.get_message("SM2").status == DONE and len(store.events()) == 3


def test_the_head_schema_is_the_tables(url, stores):
    store = stores(url)
    store.create_schema()
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), t.Base.metadata)
    assert differences == [], "tables.py is ahead of the newest migration: write one (alembic.ini says how)"


def test_upgrading_a_baseline_database_keeps_every_row(url, stores):
    store = stores(url)
    migrate.upgrade(store.engine, migrate.BASELINE)
    user_ids = fill(store)
    before, before_rows = seen(store, user_ids), rows(store.engine)
    store.create_schema()
    assert migrate.current(url) == migrate.head()
    again = stores(url)
    assert seen(again, user_ids) == before
    assert_kept(before_rows, rows(again.engine))
    assert_filled(again, user_ids)


def test_a_database_made_before_migrations_is_stamped_then_upgraded(url, stores):
    store = stores(url)
    make_legacy(store)
    user_ids = fill(store)
    before, before_rows = seen(store, user_ids), rows(store.engine)
    assert migrate.revisions(url) == migrate.Revisions(None, migrate.head(), legacy=True)
    assert migrate.upgrade(store.engine) == migrate.Migration(None, migrate.head(), stamped=True)
    assert migrate.revisions(url) == migrate.Revisions(migrate.head(), migrate.head())
    assert seen(store, user_ids) == before
    assert_kept(before_rows, rows(store.engine))
    assert_filled(store, user_ids)


def test_a_pre_migration_database_without_a_baseline_table_is_refused_untouched(url, stores):
    store = stores(url)
    make_legacy(store)
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE stored_photos")
    with pytest.raises(migrate.MigrationError, match="stored_photos"):
        store.create_schema()
    assert migrate.revisions(url).legacy  # not stamped


def test_upgrade_twice_is_a_no_op_and_downgrade_undoes_it(url, stores):
    head = migrate.head()
    assert migrate.upgrade(url) == migrate.Migration(None, head)
    assert migrate.upgrade(url) == migrate.Migration(head, head)
    assert migrate.downgrade(url, "base") == migrate.Migration(head, None)
    assert inspect(stores(url).engine).get_table_names() == [migrate.VERSION_TABLE]
    assert migrate.upgrade(url).after == head


@pytest.mark.parametrize("legacy", [False, True], ids=["empty", "pre-migration"])
def test_concurrent_upgrades_of_one_file_all_succeed(url, stores, legacy):
    user_ids = []
    if legacy:
        first = stores(url)
        make_legacy(first)
        user_ids = fill(first)
        before_rows = rows(first.engine)
        first.dispose()
    starting = threading.Barrier(4)
    results, errors = [], []

    def start():
        store = stores(url)  # an engine each, as separate processes have
        starting.wait()
        try:
            results.append(migrate.upgrade(store.engine))
        except Exception as error:  # collected: a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == 4
    assert sorted(r.before is None for r in results) == [False, False, False, True]  # one did the work
    assert [r.stamped for r in results].count(True) == (1 if legacy else 0)
    assert {r.after for r in results} == {migrate.head()}
    if legacy:
        assert_kept(before_rows, rows(stores(url).engine))
        assert_filled(stores(url), user_ids)


def test_two_processes_migrating_one_file_from_another_folder(url, tmp_path, repo_root):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    command = [sys.executable, "-m", "bot.admin", "migrate", "--database-url", url]
    runs = [
        subprocess.Popen(command, cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    head = migrate.head()
    assert sorted(out.split(": ", 1)[1].strip() for out, _ in outputs) == sorted(
        [f"none (empty) → {head}", f"{head} → {head}"]
    )
    assert list(elsewhere.iterdir()) == []


def test_the_admin_cli_migrates_and_reports_revisions(url, tmp_path, stores, monkeypatch):
    runner, head = CliRunner(), migrate.head()
    missing = runner.invoke(app, ["db-revision", "--database-url", url])
    assert missing.exit_code == 1 and "no database" in missing.output
    assert not (tmp_path / "data").exists()  # looking did not create it
    monkeypatch.setenv("BOT_DATABASE_URL", url)  # the bot's own database when no --database-url
    done = runner.invoke(app, ["migrate"])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"{url}: none (empty) → {head}"
    report = runner.invoke(app, ["db-revision"])
    assert report.exit_code == 0 and f"current:  {head}\nhead:     {head}\n" in report.output

    legacy_url = f"sqlite:///{tmp_path / 'legacy.db'}"
    make_legacy(stores(legacy_url))
    assert "tables made before migrations" in runner.invoke(app, ["db-revision", "--database-url", legacy_url]).output
    stamped = runner.invoke(app, ["migrate", "--database-url", legacy_url])
    assert stamped.exit_code == 0 and f"stamped {migrate.BASELINE}) → {head}" in stamped.output


def test_rebuilding_a_referenced_table_keeps_the_rows_that_point_at_it(url, stores):
    store = stores(url)
    store.create_schema()
    fill(store)
    before = rows(store.engine)
    # A batch migration on SQLite copies the table, drops it and renames the copy: with foreign keys on, the drop
    # of `users` would fail on the rows of every table that points at it.
    with migrate.migration_connection(store.engine) as connection:
        operations = Operations(MigrationContext.configure(connection))
        with operations.batch_alter_table("users", recreate="always") as batch:
            batch.alter_column("tier", existing_type=String(16), type_=String(24))
    assert_kept(before, rows(store.engine))
    with store.engine.connect() as connection:  # the pooled connection got its foreign keys back
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
