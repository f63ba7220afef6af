"""The anonymized analytics export (the seed's `PrivacyManager.anonymize_user_data`): one JSON line per person
and one per person-week of meals, with nothing that names anyone.

- Ids: every person is an HMAC-SHA256 of their id under `analytics_hash_key` (stable across exports with one key,
  unlinkable without it); no other id (message, meal, Stripe, Twilio) is written.
- Demographics generalised: age in bands, sex only as given (female / male, anything else 'other'; never
  inferred), goal and activity level (fixed vocabularies), the number of allergens, region = the first part of the
  timezone ('Europe'), the signup month. No height, weight, phone number, exact dates or free text.
- Meals aggregated per person and ISO week: counts, kcal bands, macro energy shares, local meal hours, and the
  foods as food-group counts (`bot.ops.food_groups`), never their names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ops.food_groups import food_group
from bot.settings import BotSettings
from nutrition.targets import Activity, Goal

AGE_BANDS = ((18, "under 18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))
MEAL_KCAL_BANDS = ((300, "<300"), (600, "300-600"), (900, "600-900"))
DAY_KCAL_BANDS = ((1000, "<1000"), (1500, "1000-1500"), (2000, "1500-2000"), (2500, "2000-2500"), (3000, "2500-3000"))
GOALS = {goal.value for goal in Goal}
ACTIVITIES = {activity.value for activity in Activity}
KCAL_PER_G = {"protein": 4.0, "fat": 9.0, "carbs": 4.0}


class AnalyticsKeyMissing(ValueError):
    """No `analytics_hash_key`: without a secret, hashed ids could be recomputed from the ids by anyone."""

    def __init__(self):
        super().__init__("BOT_ANALYTICS_HASH_KEY is not set: the export needs a secret to hash person ids with")


def person_hash(key: bytes, user_id: int) -> str:
    return hmac.new(key, f"person:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


def _band(value: float | None, bands: tuple[tuple[float, str], ...], top: str) -> str | None:
    if value is None:
        return None
    return next((name for limit, name in bands if value < limit), top)


def _when(value) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def person_record(key: bytes, export: dict, stage: str | None) -> dict:
    """The generalised demographics of one person's `export_user` data."""
    user = export["user"]
    profile = (export.get("profile") or [{}])[0]
    sex = profile.get("sex")
    goal, activity = profile.get("goal"), profile.get("activity")
    created = _when(user.get("created_at"))
    return {
        "record": "person",
        "person": person_hash(key, user["id"]),
        "tier": user.get("tier"),
        "stage": stage,
        "age_band": _band(profile.get("age_years"), AGE_BANDS, "65+"),
        "sex": None if sex is None else (sex if sex in ("female", "male") else "other"),
        "goal": goal if goal in GOALS else (None if goal is None else "other"),
        "activity": activity if activity in ACTIVITIES else (None if activity is None else "other"),
        "allergen_count": len(profile.get("allergens") or []),
        "region": (user.get("timezone") or "UTC").split("/")[0],
        "signup_month": created.strftime("%Y-%m") if created else None,
    }


def week_records(key: bytes, export: dict) -> list[dict]:
    """One record per ISO week the person logged meals in (meals they undid left out)."""
    user = export["user"]
    zone = ZoneInfo(user.get("timezone") or "UTC")
    weeks: dict[str, list[dict]] = defaultdict(list)
    for meal in export.get("meals") or []:
        if meal.get("deleted_at"):
            continue
        year, week, _ = date.fromisoformat(meal["day"]).isocalendar()
        weeks[f"{year}-W{week:02d}"].append(meal)
    records = []
    for week, meals in sorted(weeks.items()):
        days = {m["day"] for m in meals}
        kcal = sum(m.get("kcal") or 0.0 for m in meals)
        energy = {name: sum(m.get(f"{name}_g") or 0.0 for m in meals) * per_g for name, per_g in KCAL_PER_G.items()}
        total_energy = sum(energy.values())
        hours = Counter(
            f"{_when(m['eaten_at']).replace(tzinfo=ZoneInfo('UTC')).astimezone(zone).hour:02d}"
            for m in meals
            if m.get("eaten_at")
        )
        groups = Counter(food_group(item.get("name", "")) for m in meals for item in m.get("items") or [])
        records.append(
            {
                "record": "person_week",
                "person": person_hash(key, user["id"]),
                "week": week,
                "meals": len(meals),
                "days_logged": len(days),
                "sources": dict(sorted(Counter(m.get("source") or "photo" for m in meals).items())),
                "kcal_per_logged_day_band": _band(kcal / len(days), DAY_KCAL_BANDS, "3000+"),
                "meal_kcal_bands": dict(
                    sorted(Counter(_band(m.get("kcal") or 0.0, MEAL_KCAL_BANDS, "900+") for m in meals).items())
                ),
                "macro_energy_share": {
                    name: round(value / total_energy, 2) if total_energy else None for name, value in energy.items()
                },
                "meal_hours": dict(sorted(hours.items())),
                "food_groups": dict(sorted(groups.items())),
            }
        )
    return records


def records(store, key: bytes, stage_of=None, page: int = 200) -> Iterator[dict]:
    """Every person's records, a page of people at a time (`store.user_ids`); `stage_of(user_id)`: their
    personalization stage, or None to leave it out."""
    after = 0
    while True:
        ids = store.user_ids(after, page)
        if not ids:
            return
        for user_id in ids:
            export = store.export_user(user_id)
            if export.get("user") is None:  # deleted between the page and now
                continue
            yield person_record(key, export, stage_of(user_id) if stage_of else None)
            yield from week_records(key, export)
        after = ids[-1]


@dataclass(frozen=True)
class Exported:
    people: int
    weeks: int


def export(store, settings: BotSettings, out: Path, stage_of=None) -> Exported:
    """Write the records to `out` (JSON lines), whole or not at all: a temporary file renamed at the end."""
    secret = settings.analytics_hash_key.get_secret_value()
    if not secret:
        raise AnalyticsKeyMissing()
    key = secret.encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    counts = Counter()
    with partial.open("w", encoding="utf-8") as file:
        for record in records(store, key, stage_of):
            counts[record["record"]] += 1
            file.write(json.dumps(record, sort_keys=True) + "\n")
    os.replace(partial, out)
    return Exported(counts["person"], counts["person_week"])
