"""The meal-plan tables on real SQLite files: plans per person per week, ratings, short links, preferences, export
and delete; and migration 0005 from a filled 0004 database (rows kept, downgrade undoes it)."""

from datetime import datetime

import pytest
from sqlalchemy import inspect, text

from bot.storage.sql import migrate
from bot.storage.sql.store import SqlStore

NOW = datetime(2026, 11, 24, 12, 0)
PLAN = {"days": [], "cost_usd": 0.0, "summary": {}}
REQUEST = {"days": 7, "slots": ["dinner"], "leftovers": False, "skip": [], "avoid": []}


@pytest.fixture
def store(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    yield store
    store.dispose()


def test_a_new_plan_replaces_the_weeks_and_edits_keep_its_id(store):
    alice = store.get_or_create_user("+15550001", "free", "UTC").id
    first = store.save_plan(alice, "2026-11-23", "2026-11-24", PLAN, REQUEST, NOW)
    edited = store.update_plan(first.id, NOW, have=["rice"], shown={"day": 1, "slot": "dinner"})
    assert (edited.id, edited.have, edited.shown) == (first.id, ("rice",), {"day": 1, "slot": "dinner"})
    again = store.save_plan(alice, "2026-11-23", "2026-11-25", PLAN, {**REQUEST, "days": 3}, NOW)
    assert again.id == first.id and again.have == () and again.shown is None and again.request["days"] == 3
    later = store.save_plan(alice, "2026-11-30", "2026-11-30", PLAN, REQUEST, NOW)
    assert store.latest_plan(alice) == later and later.id != first.id
    with pytest.raises(ValueError, match="not plan fields"):
        store.update_plan(first.id, NOW, week_start="2026-11-30")
    assert store.latest_plan(store.get_or_create_user("+15550002", "free", "UTC").id) is None


def test_ratings_links_and_privacy(store):
    alice = store.get_or_create_user("+15550001", "free", "UTC").id
    bob = store.get_or_create_user("+15550002", "free", "UTC").id
    plans = {who: store.save_plan(who, "2026-11-23", "2026-11-24", PLAN, REQUEST, NOW) for who in (alice, bob)}
    store.add_plan_rating(alice, plans[alice].id, 1, "dinner", "dal-tadka-rice", 4, NOW)
    with pytest.raises(ValueError, match="1 to 5"):
        store.add_plan_rating(alice, plans[alice].id, 1, "dinner", "dal-tadka-rice", 6, NOW)
    links = [
        store.add_short_link(who, plans[who].id, "amazon_fresh", "https://a.test/x", "b" * 64, NOW)
        for who in (alice, bob)
    ]
    assert len({link.id for link in links}) == 2 and all(len(link.id) == 22 for link in links)
    assert store.get_short_link(links[0].id) == links[0] and store.get_short_link("x" * 22) is None
    assert store.short_link(alice, plans[alice].id, "amazon_fresh", "b" * 64) == links[0]
    assert store.short_link(alice, plans[alice].id, "amazon_fresh", "c" * 64) is None
    assert store.meal_preferences(alice) == {}
    store.set_meal_preferences(alice, {"dislikes": ["fish"], "budget": "tight"}, NOW)
    store.set_meal_preferences(alice, {"dislikes": ["fish", "tofu"]}, NOW)
    assert store.meal_preferences(alice) == {"dislikes": ["fish", "tofu"]} and store.meal_preferences(bob) == {}

    exported = store.export_user(alice)
    assert [p["id"] for p in exported["meal_plans"]] == [plans[alice].id]
    assert [(r["recipe_id"], r["rating"]) for r in exported["plan_ratings"]] == [("dal-tadka-rice", 4)]
    assert [link["id"] for link in exported["short_links"]] == [links[0].id]
    assert [p["values"] for p in exported["meal_preferences"]] == [{"dislikes": ["fish", "tofu"]}]

    store.delete_user(alice)
    assert store.get_short_link(links[0].id) is None and store.plan_ratings(alice) == []
    assert store.latest_plan(alice) is None and store.meal_preferences(alice) == {}
    assert store.latest_plan(bob) == plans[bob] and store.get_short_link(links[1].id) == links[1]  # bob's stay


def test_migration_0005_upgrades_a_filled_0004_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = SqlStore(url)
    try:
        migrate.upgrade(store.engine, "0004")
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, phone, tier, timezone, opted_out, created_at) "
                    "VALUES (1, '+1555', 'free', 'UTC', 0, :now)"
                ),
                {"now": NOW},
            )
            connection.execute(
                text(
                    "INSERT INTO profiles (user_id, goal, allergens, allergy_notes, allergies_known, asked, updated_at) "
                    "VALUES (1, 'maintain', '[\"peanut\"]', '[]', 1, '{}', :now)"
                ),
                {"now": NOW},
            )
        assert migrate.upgrade(store.engine) == migrate.Migration("0004", migrate.head())
        profile = store.get_profile(1)
        assert (profile.goal, profile.allergens, store.meal_preferences(1)) == ("maintain", ("peanut",), {})
        names = set(inspect(store.engine).get_table_names())
        assert {"meal_preferences", "meal_plans", "plan_ratings", "short_links"} <= names
        plan = store.save_plan(1, "2026-11-23", "2026-11-24", PLAN, REQUEST, NOW)
        assert store.latest_plan(1) == plan

        store.add_short_link(1, plan.id, "amazon_fresh", "https://a.test/x", "b" * 64, NOW)
        assert migrate.downgrade(url, "0004") == migrate.Migration(migrate.head(), "0004")  # rows in them or not
        names = set(inspect(store.engine).get_table_names())
        assert not {"meal_preferences", "meal_plans", "plan_ratings", "short_links"} & names
        assert store.get_profile(1).goal == "maintain" and store.get_user(1).phone == "+1555"
    finally:
        store.dispose()
