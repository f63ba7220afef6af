"""The personalization table on real SQLite files: learned preferences per person, the photo portions shown,
export and delete; and migration 0006 from a filled 0005 database (rows kept, downgrade undoes it)."""

from datetime import datetime

import pytest
from sqlalchemy import inspect, text

from bot.storage.sql import migrate
from bot.storage.sql.store import SqlStore

NOW = datetime(2026, 12, 2, 12, 0)
LEARNED = {"cuisines": {"indian": {"value": 0.4, "confidence": 0.5, "source": "ratings", "updated": "2026-12-02"}}}


@pytest.fixture
def store(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    yield store
    store.dispose()


def test_preferences_and_photo_portions_are_kept_per_person_and_go_with_them(store):
    alice = store.get_or_create_user("+15550001", "free", "UTC").id
    bob = store.get_or_create_user("+15550002", "free", "UTC").id
    assert store.personal_preferences(alice) == {} and store.photo_portions(alice) is None
    assert store.personal_since(alice) is None
    store.set_personal_preferences(alice, LEARNED, NOW)
    store.set_photo_portions(
        alice, {"meal_id": 3, "items": {"0": {"food": "rice", "model_g": 200, "factor": 1.2}}}, NOW
    )
    store.set_personal_preferences(bob, {"counts": {"ratings": 1}}, NOW)
    assert store.personal_preferences(alice) == LEARNED and store.personal_since(alice) == NOW
    assert store.photo_portions(alice)["items"]["0"]["model_g"] == 200
    store.set_photo_portions(alice, None, NOW)
    assert store.photo_portions(alice) is None and store.personal_preferences(alice) == LEARNED  # kept

    exported = store.export_user(alice)
    assert [row["values"] for row in exported["personal_preferences"]] == [LEARNED]
    store.delete_user(alice)
    assert store.personal_preferences(alice) == {} and store.personal_preferences(bob) == {"counts": {"ratings": 1}}


def test_migration_0006_upgrades_a_filled_0005_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = SqlStore(url)
    try:
        migrate.upgrade(store.engine, "0005")
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, phone, tier, timezone, opted_out, created_at) "
                    "VALUES (1, '+1555', 'free', 'UTC', 0, :now)"
                ),
                {"now": NOW},
            )
            connection.execute(
                text('INSERT INTO meal_preferences (user_id, "values", updated_at) VALUES (1, :v, :now)'),
                {"v": '{"dislikes": ["fish"]}', "now": NOW},
            )
        assert migrate.upgrade(store.engine) == migrate.Migration("0005", migrate.head())
        assert store.meal_preferences(1) == {"dislikes": ["fish"]} and store.personal_preferences(1) == {}
        store.set_personal_preferences(1, LEARNED, NOW)
        assert store.personal_preferences(1) == LEARNED
        assert migrate.downgrade(url, "0005") == migrate.Migration(migrate.head(), "0005")
        assert "personal_preferences" not in set(inspect(store.engine).get_table_names())
        assert store.meal_preferences(1) == {"dislikes": ["fish"]} and store.get_user(1).phone == "+1555"
    finally:
        store.dispose()
