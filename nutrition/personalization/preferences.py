"""What the assistant has learned about one person: each preference with how sure it is and where it came
from, the stored form (`to_dict` / `from_dict`, JSON-able) and resetting one field. No learning rules here:
those are in `signals.py`, their use in `use.py`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

STAGES = ("foundation", "discovery", "ongoing")
SOURCES = ("said", "ratings", "substitutions", "logs", "corrections", "plans")
SKILLS = ("basic", "intermediate", "advanced")
BUDGETS = ("tight", "normal", "generous")
# Two pseudo-observations of "no bias": one odd correction moves the factor a third of the way, ten
# consistent ones five sixths of the way.
PORTION_SHRINK = 2.0
PORTION_FACTOR_RANGE = (0.5, 2.0)  # beyond this a correction is a different food or a typo, not a habit
RESETTABLE = ("cuisines", "dislikes", "spice", "cooking_time", "cooking_skill", "budget", "meal_times", "portions")
# RESETTABLE name → the UserPreferences attribute it clears.
_RESET_ATTRIBUTE = {
    "cuisines": "cuisines",
    "dislikes": "disliked",
    "spice": "spice_tolerance",
    "cooking_time": "cooking_minutes",
    "cooking_skill": "cooking_skill",
    "budget": "budget_sensitivity",
    "meal_times": "meal_times",
    "portions": "portions",
}
FORMAT_VERSION = 1


def iso_utc(at: dt.datetime) -> str:
    """`at` as ISO-8601 UTC to the second; a naive datetime is taken to be UTC already."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Learned:
    """One learned fact: its value (JSON-able), how sure (0..1), from which kind of signal, when last moved."""

    value: object
    confidence: float
    source: str
    updated: str

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r} (expected one of {', '.join(SOURCES)})")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence should be 0..1, got {self.confidence!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> Learned:
        return cls(d["value"], float(d["confidence"]), d["source"], d["updated"])


@dataclass(frozen=True)
class PortionBias:
    """The person's corrections of the model's grams for one food, kept as a sum so updates are exact."""

    food: str
    log_sum: float  # sum of log(corrected / predicted)
    n: int

    def factor(self) -> float:
        """exp(mean log ratio), shrunk towards 1 by PORTION_SHRINK pseudo-observations, clamped."""
        low, high = PORTION_FACTOR_RANGE
        return min(high, max(low, math.exp(self.log_sum / (self.n + PORTION_SHRINK))))

    def to_dict(self) -> dict:
        return {"log_sum": self.log_sum, "n": self.n}


@dataclass(frozen=True)
class UserPreferences:
    """The seed's UserPreferences, each field with its confidence and source. Treat it as immutable: every
    signal returns a new one (the mappings are plain dicts for JSON, never changed in place)."""

    cuisines: Mapping[str, Learned] = field(default_factory=dict)  # cuisine → affinity in [-1, 1]
    disliked: Mapping[str, Learned] = field(default_factory=dict)  # food word → True; confidence = evidence
    spice_tolerance: Learned | None = None  # int 0..3, the recipes' spice scale
    cooking_minutes: Learned | None = None  # int, the most minutes a recipe may take
    cooking_skill: Learned | None = None  # one of SKILLS
    budget_sensitivity: Learned | None = None  # one of BUDGETS
    meal_times: Mapping[str, Learned] = field(default_factory=dict)  # slot → "HH:MM" local
    portions: Mapping[str, PortionBias] = field(default_factory=dict)  # food → bias
    counts: Mapping[str, int] = field(default_factory=dict)  # ratings, substitutions, meals_logged, ...

    @classmethod
    def empty(cls) -> UserPreferences:
        return cls()

    def to_dict(self) -> dict:
        def one(learned: Learned | None) -> dict | None:
            return learned.to_dict() if learned is not None else None

        return {
            "version": FORMAT_VERSION,
            "cuisines": {k: v.to_dict() for k, v in self.cuisines.items()},
            "disliked": {k: v.to_dict() for k, v in self.disliked.items()},
            "spice_tolerance": one(self.spice_tolerance),
            "cooking_minutes": one(self.cooking_minutes),
            "cooking_skill": one(self.cooking_skill),
            "budget_sensitivity": one(self.budget_sensitivity),
            "meal_times": {k: v.to_dict() for k, v in self.meal_times.items()},
            "portions": {k: v.to_dict() for k, v in self.portions.items()},
            "counts": dict(self.counts),
        }

    @classmethod
    def from_dict(cls, d: Mapping | None) -> UserPreferences:
        """The stored form back; None or {} (nothing stored yet) is `empty()`.

        Raises:
            ValueError: a stored format version this code does not know, or a malformed entry.
        """
        if not d:
            return cls.empty()
        if d.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            raise ValueError(f"unknown preferences format version {d.get('version')!r} (expected {FORMAT_VERSION})")

        def one(raw: Mapping | None) -> Learned | None:
            return Learned.from_dict(raw) if raw else None

        try:
            return cls(
                cuisines={k: Learned.from_dict(v) for k, v in (d.get("cuisines") or {}).items()},
                disliked={k: Learned.from_dict(v) for k, v in (d.get("disliked") or {}).items()},
                spice_tolerance=one(d.get("spice_tolerance")),
                cooking_minutes=one(d.get("cooking_minutes")),
                cooking_skill=one(d.get("cooking_skill")),
                budget_sensitivity=one(d.get("budget_sensitivity")),
                meal_times={k: Learned.from_dict(v) for k, v in (d.get("meal_times") or {}).items()},
                portions={
                    k: PortionBias(k, float(v["log_sum"]), int(v["n"])) for k, v in (d.get("portions") or {}).items()
                },
                counts={k: int(v) for k, v in (d.get("counts") or {}).items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed stored preferences: {exc!r}") from exc


def reset(prefs: UserPreferences, field: str) -> UserPreferences:
    """`prefs` with one RESETTABLE field forgotten (the counts stay: they are engagement, not preferences).

    Raises:
        ValueError: `field` is not one of RESETTABLE.
    """
    if field not in _RESET_ATTRIBUTE:
        raise ValueError(f"cannot reset {field!r}: expected one of {', '.join(RESETTABLE)}")
    attribute = _RESET_ATTRIBUTE[field]
    cleared = {} if isinstance(getattr(prefs, attribute), Mapping) else None
    return dataclasses.replace(prefs, **{attribute: cleared})
