"""The anonymized analytics export (`python -m bot.admin analytics-export`): a store filled with real-looking phone
numbers, names and free text, and proof that none of it, nor any raw id, height or weight, leaves; ids as keyed
hashes; the meal aggregates right; no export without a key."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

import pytest
from typer.testing import CliRunner

from bot.admin import app
from bot.ops.food_groups import food_group
from bot.storage.records import ItemRecord
from bot.storage.sql.store import SqlStore

KEY = "analytics-key-for-tests-0123456789"
MARIA = "+15551234567"
JAMES = "+447700900123"
SECRETS = (
    "5551234567",
    "7700900123",
    "Maria",
    "Gonzalez",
    "maria@example.com",
    "lasagna",
    "grandmother",
    "James",
    "Okafor",
    "Baker Street",
)


def item(name: str, display: str, kcal: float, protein: float, fat: float, carbs: float) -> ItemRecord:
    return ItemRecord(0, name, display, 100.0, 80.0, 120.0, kcal, protein, fat, carbs, 0.9)


def meal(store, user, sid: str, body: str, at: datetime, items: list[ItemRecord], source: str = "text"):
    message, _ = store.record_inbound(
        sid, user.id, f"whatsapp:{user.phone}", "whatsapp:+14155238886", body, [], "done", at, None
    )
    store.save_meal(message.id, user.id, at.strftime("%Y-%m-%d"), at, items, {}, [], source)


@pytest.fixture
def filled(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'people.db'}")
    store.create_schema()
    maria = store.get_or_create_user(MARIA, "standard", "America/New_York")
    store.update_profile(
        maria.id,
        datetime(2026, 11, 30, 9),
        sex="female",
        age_years=34,
        height_cm=168.0,
        weight_kg=62.5,
        goal="lose_weight",
        activity="moderate",
        allergens=["peanuts"],
        allergy_notes=["my grandmother's walnut cake"],
    )
    # Mon 30 Nov and Tue 1 Dec 2026 (ISO week 49), 12:30 UTC = 07:30 in New York
    meal(
        store,
        maria,
        "SMmaria0001",
        "Hi, I'm Maria Gonzalez (maria@example.com): my grandmother's lasagna",
        datetime(2026, 11, 30, 12, 30),
        [item("maria's lasagna", "Maria Gonzalez's secret lasagna", 650, 30, 25, 70)],
    )
    meal(
        store,
        maria,
        "SMmaria0002",
        "an apple and 2 eggs",
        datetime(2026, 12, 1, 12, 30),
        [item("apple", "Apple", 95, 0.5, 0.3, 25), item("egg", "Egg", 140, 12, 10, 1)],
        "photo",
    )
    james = store.get_or_create_user(JAMES, "free", "Europe/London")
    message, _ = store.record_inbound(
        "SMjames0001",
        james.id,
        f"whatsapp:{JAMES}",
        "whatsapp:+14155238886",
        "James Okafor, 221B Baker Street",
        [],
        "done",
        datetime(2026, 12, 8, 19),
        None,
    )
    store.save_meal(
        message.id,
        james.id,
        "2026-12-08",
        datetime(2026, 12, 8, 19),
        [item("toast", "James's toast", 250, 8, 4, 45)],
        {},
        [],
        "text",
    )
    yield store, maria, james
    store.dispose()


def run_export(store, out, monkeypatch, key: str | None = KEY):
    if key is None:
        monkeypatch.delenv("BOT_ANALYTICS_HASH_KEY", raising=False)
    else:
        monkeypatch.setenv("BOT_ANALYTICS_HASH_KEY", key)
    url = store.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(app, ["analytics-export", "--out", str(out), "--database-url", url])


def leaves(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v)
    else:
        yield value


def test_nothing_that_names_anyone_survives(filled, tmp_path, monkeypatch):
    store, maria, james = filled
    out = tmp_path / "export" / "analytics.jsonl"
    result = run_export(store, out, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "2 people, 2 person-weeks" in result.output
    text = out.read_text()
    for secret in SECRETS:
        assert secret.lower() not in text.lower(), secret
    assert "SM" not in text  # no message SID
    records = [json.loads(line) for line in text.splitlines()]
    values = list(leaves(records))
    assert 168.0 not in values and 62.5 not in values and 34 not in values  # no height, weight or exact age
    keys = {k for r in records for k in r}
    assert not keys & {"id", "user_id", "phone", "meal_id", "message_sid", "height_cm", "weight_kg", "age_years"}
    for person, user in ((records[0]["person"], maria), (records[-1]["person"], james)):
        assert person == hmac.new(KEY.encode(), f"person:{user.id}".encode(), hashlib.sha256).hexdigest()[:32]
        assert person != str(user.id) and len(person) == 32


def test_demographics_are_generalised_and_meals_aggregated(filled, tmp_path, monkeypatch):
    store, *_ = filled
    out = tmp_path / "analytics.jsonl"
    assert run_export(store, out, monkeypatch).exit_code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    person = next(r for r in records if r["record"] == "person" and r["tier"] == "standard")
    assert {k: person[k] for k in ("age_band", "sex", "goal", "activity", "allergen_count", "region")} == {
        "age_band": "25-34",
        "sex": "female",
        "goal": "lose_weight",
        "activity": "moderate",
        "allergen_count": 1,
        "region": "America",
    }
    assert person["stage"] == "foundation" and len(person["signup_month"]) == 7
    week = next(r for r in records if r["record"] == "person_week" and r["person"] == person["person"])
    assert week["week"] == "2026-W49" and week["meals"] == 2 and week["days_logged"] == 2
    assert week["sources"] == {"photo": 1, "text": 1}
    assert week["meal_kcal_bands"] == {"<300": 1, "600-900": 1}
    assert week["kcal_per_logged_day_band"] == "<1000"  # (650 + 235) / 2 days
    assert week["meal_hours"] == {"07": 2}  # local time in New York
    assert week["food_groups"] == {"fruit": 1, "mixed": 1, "protein": 1}
    shares = week["macro_energy_share"]
    assert sum(shares.values()) == pytest.approx(1.0, abs=0.02) and shares["carbs"] > shares["protein"]


def test_the_key_decides_the_hashes_and_is_required(filled, tmp_path, monkeypatch):
    store, *_ = filled
    first, again, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert run_export(store, first, monkeypatch).exit_code == 0
    assert run_export(store, again, monkeypatch).exit_code == 0
    assert run_export(store, other, monkeypatch, key="another-key-entirely-9876543210").exit_code == 0
    people = lambda path: [json.loads(line)["person"] for line in path.read_text().splitlines()]  # noqa: E731
    assert people(first) == people(again) and not set(people(first)) & set(people(other))
    refused = run_export(store, tmp_path / "none.jsonl", monkeypatch, key=None)
    assert refused.exit_code == 1 and "BOT_ANALYTICS_HASH_KEY" in refused.output
    assert not (tmp_path / "none.jsonl").exists() and not (tmp_path / "none.jsonl.partial").exists()


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("apple", "fruit"),
        ("Apple pie", "sweets"),
        ("egg, whole, boiled", "protein"),
        ("chicken soup", "mixed"),
        ("whole wheat bread", "grains"),
        ("orange juice", "drinks"),
        ("Greek yogurt", "dairy"),
        ("broccoli", "vegetables"),
        ("grandma's thing", "other"),
    ],
)
def test_food_groups(name, group):
    assert food_group(name) == group
