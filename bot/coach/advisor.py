"""The day's numbers for a person: targets from their profile, what's left, next-meal options, the coach's tip.

Blocking (database, table, Bedrock): call from a worker thread.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path

from bot.coach.tips import Coach, CoachFacts, Tip
from bot.personal.service import Learning
from bot.storage.records import DayTotals, ProfileRecord, UserRecord
from nutrition.allergens import Allergies
from nutrition.personalization.use import rank
from nutrition.rebalance import Option, PricedMeal, price_catalogue, suggest
from nutrition.targets import Activity, Body, DailyTargets, Goal, ProfileError, Sex, daily_targets
from nutrition.usda_table import Nutrients, NutritionTable

log = logging.getLogger(__name__)
OPTIONS, CANDIDATES = 3, 6  # ideas shown; the closest fits they are ranked from


class TableSource:
    """Loads the nutrition table on first use; remembers why it could not."""

    def __init__(self, directory: Path, table: NutritionTable | None = None):
        self.directory = Path(directory)
        self._table = table
        self._tried = table is not None
        self._lock = threading.Lock()
        self.missing: str | None = None
        self._catalogue: list[PricedMeal] | None = None

    def get(self) -> NutritionTable | None:
        with self._lock:
            if not self._tried:
                self._tried = True
                try:
                    self._table = NutritionTable.load(self.directory)
                except (FileNotFoundError, OSError, ValueError) as exc:
                    self.missing = str(exc)
                    log.error("nutrition table unavailable: %s", exc)
            return self._table

    def catalogue(self) -> list[PricedMeal] | None:
        """The meal catalogue priced with this table, once."""
        table = self.get()
        if table is None:
            return None
        with self._lock:
            if self._catalogue is None:
                self._catalogue = price_catalogue(table)
            return self._catalogue

    def unavailable_text(self) -> str:
        return (
            f"I can't look foods up right now: the nutrition table isn't at {self.directory} "
            "(the bot's BOT_NUTRITION_DIR; `dvc repro nutrition_table` builds it). Photos still work."
        )


def allergies_of(profile: ProfileRecord) -> Allergies:
    return Allergies(
        frozenset(profile.allergens),
        tuple(profile.allergy_notes),
        none=profile.allergies_known and not profile.allergens and not profile.allergy_notes,
    )


def body_of(profile: ProfileRecord) -> Body | None:
    if None in (profile.sex, profile.age_years, profile.height_cm, profile.weight_kg):
        return None
    try:
        return Body(
            Sex(profile.sex),
            profile.age_years,
            profile.height_cm,
            profile.weight_kg,
            Activity(profile.activity or Activity.LIGHT.value),
        )
    except (ProfileError, ValueError):
        return None


def targets_of(profile: ProfileRecord) -> DailyTargets:
    return daily_targets(body_of(profile), Goal(profile.goal) if profile.goal else None)


def remaining(targets: DailyTargets, totals: DayTotals) -> Nutrients:
    return Nutrients(
        targets.kcal - totals.kcal,
        targets.protein_g - totals.protein_g,
        targets.fat_g - totals.fat_g,
        targets.carbs_g - totals.carbs_g,
    )


def _foods(option: Option) -> list[str]:
    return [ingredient.description for ingredient in option.ingredients]


def _unknown(option: Option) -> None:
    return None  # the meal catalogue names no cuisine or spice


class Advisor:
    """`learning` (the person's learned tastes) ranks the options that fit; without it, closest fit first."""

    def __init__(self, coach: Coach, tables: TableSource, learning: Learning | None = None):
        self.coach = coach
        self.tables = tables
        self.learning = learning

    def options(self, profile: ProfileRecord, left: Nutrients) -> list[Option] | None:
        """Next-meal options, or None without a nutrition table: the closest fits to what's left (every one safe
        and within the day), the person's favourites of them first."""
        catalogue = self.tables.catalogue()
        if catalogue is None:
            return None
        if self.learning is None:
            return suggest(left, allergies_of(profile), catalogue)
        fits = suggest(left, allergies_of(profile), catalogue, count=CANDIDATES)
        prefs = self.learning.get(profile.user_id)
        return rank(fits, prefs, cuisine_of=_unknown, foods_of=_foods, spice_of=_unknown)[:OPTIONS]

    def advise(
        self,
        user: UserRecord,
        profile: ProfileRecord,
        totals: DayTotals,
        now: datetime,
        moment: str,
    ) -> tuple[DailyTargets, Nutrients, list[Option] | None, Tip]:
        targets = targets_of(profile)
        left = remaining(targets, totals)
        options = self.options(profile, left)
        facts = CoachFacts(
            moment=moment,
            goal=profile.goal,
            allergies=allergies_of(profile).describe(),
            target={
                "kcal": targets.kcal,
                "protein_g": targets.protein_g,
                "fat_g": targets.fat_g,
                "carbs_g": targets.carbs_g,
                "is_default": targets.is_default,
            },
            eaten={k: round(getattr(totals, k)) for k in ("kcal", "protein_g", "fat_g", "carbs_g")},
            remaining={k: round(v) for k, v in zip(("kcal", "protein_g", "fat_g", "carbs_g"), left.astuple())},
            options=[
                {"name": o.name, "kcal": round(o.nutrients.kcal), "protein_g": round(o.nutrients.protein_g)}
                for o in options or []
            ],
        )
        return targets, left, options, self.coach.tip(user, facts, now)
