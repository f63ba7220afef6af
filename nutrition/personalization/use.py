"""Where what was learned is used: the planner's hard rules and soft ranking, the portion factor for photo
grams, the personalization stage and which one question (if any) to ask next."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from nutrition.allergens import mentions
from nutrition.personalization.preferences import PORTION_FACTOR_RANGE, PORTION_SHRINK, STAGES, UserPreferences
from nutrition.planning.planner import Preferences

T = TypeVar("T")

DISLIKE_HARD = 0.6  # a learned dislike this sure becomes a planner rule (a said one always is)
SPICE_HARD = 0.5  # a learned spice tolerance this sure caps the planner's spice
MINUTES_HARD = 0.5
PORTION_MIN_CHANGE = 0.05  # a factor within 5 % of 1 is not worth "adjusted for your usual portions"
DISLIKE_WEIGHT = 4.0  # times the worst food's dislike probability: a hard dislike outweighs any cuisine liking
SPICE_WEIGHT = 1.0  # per spice level above the tolerance, times its confidence
FOUNDATION_DAYS = 7  # days 1-7: onboarding's own one-fact-a-day, no preference questions
ONGOING_DAYS = 28  # weeks 2-4 are discovery
ENGAGED_MESSAGES = 3  # fewer messages in the last 7 days: not enough trust to ask anything
MAX_QUESTIONS_PER_DAY = 1
QUESTION_FIELDS = ("dislikes", "cuisines", "spice", "cooking_time", "cooking_skill", "budget")
KNOWN = 0.7  # a field this sure is not asked about
ASK_AGAIN_PENALTY = 0.25  # each unanswered time a field was asked makes it look this much surer


def portion_factor(prefs: UserPreferences, food: str) -> float | None:
    """What to multiply the model's grams of `food` by for this person, or None when there is nothing to adjust.

    The person's usual bias (the mean log ratio over the other foods they corrected, shrunk by PORTION_SHRINK
    pseudo-observations of none) is the prior for each food; the food's own corrections count one each
    against PORTION_SHRINK of that prior. A food never corrected gets the person's usual bias."""
    word = " ".join(food.lower().split())
    own = prefs.portions.get(word)
    own_sum, own_n = (own.log_sum, own.n) if own else (0.0, 0)
    others_sum = sum(b.log_sum for b in prefs.portions.values()) - own_sum
    others_n = sum(b.n for b in prefs.portions.values()) - own_n
    if own_n + others_n == 0:
        return None
    usual = others_sum / (others_n + PORTION_SHRINK)
    low, high = PORTION_FACTOR_RANGE
    factor = min(high, max(low, math.exp((own_sum + PORTION_SHRINK * usual) / (own_n + PORTION_SHRINK))))
    return None if abs(factor - 1.0) < PORTION_MIN_CHANGE else factor


def _unique(words: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w for w in words if w))


def hard_dislikes(prefs: UserPreferences) -> tuple[str, ...]:
    """Learned dislikes sure enough to be rules, surest first."""
    sure = [(w, x.confidence) for w, x in prefs.disliked.items() if x.confidence >= DISLIKE_HARD]
    return tuple(w for w, _ in sorted(sure, key=lambda p: (-p[1], p[0])))


def liked_cuisines(prefs: UserPreferences) -> tuple[str, ...]:
    """Cuisines with a positive affinity, most liked (affinity × confidence) first."""
    liked = [(c, float(x.value) * x.confidence) for c, x in prefs.cuisines.items() if float(x.value) > 0]
    return tuple(c for c, _ in sorted(liked, key=lambda p: (-p[1], p[0])))


def planner_preferences(prefs: UserPreferences, said: Mapping) -> Preferences:
    """The planner's Preferences: what the person said (`said`: "dislikes", "cuisines", "max_spice",
    "max_minutes", each optional; other keys are not preferences and are ignored) always kept, learned facts
    added where sure enough. Allergies are not preferences: the planner applies them separately, and nothing
    learned can loosen them."""
    said_spice, said_minutes = said.get("max_spice"), said.get("max_minutes")
    spice = prefs.spice_tolerance
    minutes = prefs.cooking_minutes
    if said_spice is None and spice is not None and spice.confidence >= SPICE_HARD:
        said_spice = int(spice.value)
    if said_minutes is None and minutes is not None and minutes.confidence >= MINUTES_HARD:
        said_minutes = int(minutes.value)
    return Preferences(
        cuisines=_unique([*said.get("cuisines", ()), *liked_cuisines(prefs)]),
        dislikes=_unique([*said.get("dislikes", ()), *hard_dislikes(prefs)]),
        max_spice=said_spice,
        max_minutes=said_minutes,
    )


@functools.lru_cache(maxsize=65536)
def _names(food: str, word: str) -> bool:
    return mentions(food, word)


def score(
    prefs: UserPreferences, *, cuisine: str | None, foods: Sequence[str], spice: int | None
) -> tuple[bool, float]:
    """(has a hard dislike, learned liking): the cuisine's affinity × confidence, minus DISLIKE_WEIGHT × the dislike
    evidence of its most suspected food, minus SPICE_WEIGHT per level above the tolerance × its confidence."""
    learned = prefs.cuisines.get(cuisine) if cuisine else None
    value = float(learned.value) * learned.confidence if learned else 0.0
    # A dish is as bad as its worst food: summing would punish long ingredient lists for their staples.
    worst = max((x.confidence for w, x in prefs.disliked.items() if any(_names(f, w) for f in foods)), default=0.0)
    value -= DISLIKE_WEIGHT * worst
    hard = worst >= DISLIKE_HARD
    tolerance = prefs.spice_tolerance
    if tolerance is not None and spice is not None and spice > int(tolerance.value):
        value -= SPICE_WEIGHT * (spice - int(tolerance.value)) * tolerance.confidence
    return hard, value


def rank(
    items: Sequence[T],
    prefs: UserPreferences,
    *,
    cuisine_of: Callable[[T], str | None],
    foods_of: Callable[[T], Sequence[str]],
    spice_of: Callable[[T], int | None],
) -> list[T]:
    """`items` most liked first: any with a hard dislike last, then by `score`; ties keep their order."""

    def key(item: T) -> tuple[bool, float]:
        hard, value = score(prefs, cuisine=cuisine_of(item), foods=foods_of(item), spice=spice_of(item))
        return hard, -value

    return sorted(items, key=key)  # sorted is stable


def stage(prefs: UserPreferences, *, days_active: int, messages_last_7_days: int) -> str:
    """foundation (the first week, or too quiet to be asked things), discovery (weeks 2-4), ongoing."""
    if days_active <= FOUNDATION_DAYS or messages_last_7_days < ENGAGED_MESSAGES:
        return "foundation"
    return "discovery" if days_active < ONGOING_DAYS else "ongoing"


def field_confidence(prefs: UserPreferences, field: str) -> float:
    """How sure the learned preferences are about a question field (cuisines: the mean of the 3 surest)."""
    if field == "cuisines":
        top = sorted((x.confidence for x in prefs.cuisines.values()), reverse=True)[:3]
        return sum(top) / 3
    if field == "dislikes":  # known once asked and answered; each dislike said unasked tells a little
        if prefs.counts.get("answered_dislikes"):
            return 1.0
        return min(0.6, 0.2 * sum(x.source in ("said", "substitutions") for x in prefs.disliked.values()))
    single = {
        "spice": prefs.spice_tolerance,
        "cooking_time": prefs.cooking_minutes,
        "cooking_skill": prefs.cooking_skill,
        "budget": prefs.budget_sensitivity,
    }
    if field not in single:
        raise ValueError(f"unknown question field {field!r} (expected one of {', '.join(QUESTION_FIELDS)})")
    learned = single[field]
    return learned.confidence if learned is not None else 0.0


def next_question(prefs: UserPreferences, *, stage: str, asked_today: int, correcting: bool) -> str | None:
    """The one field to ask about now (one of QUESTION_FIELDS), or None: at most one question a day, never while
    the person is correcting something, none in foundation; the least confident field first, a field asked
    before and still unknown looking a little surer each time (so three unanswered askings stop it)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (expected one of {', '.join(STAGES)})")
    if correcting or asked_today >= MAX_QUESTIONS_PER_DAY or stage == "foundation":
        return None
    effective = {
        f: field_confidence(prefs, f) + ASK_AGAIN_PENALTY * prefs.counts.get(f"asked_{f}", 0) for f in QUESTION_FIELDS
    }
    open_fields = [f for f in QUESTION_FIELDS if effective[f] < KNOWN]
    return min(open_fields, key=lambda f: (effective[f], QUESTION_FIELDS.index(f))) if open_fields else None
