"""Answers to the questions `use.next_question` asks (dislikes, cuisines, spice, cooking skill, budget; cooking time is
`signals.said_cooking_minutes`), and the count of questions asked. Pure, like the signals."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from nutrition.personalization.preferences import BUDGETS, SKILLS, Learned, UserPreferences, iso_utc
from nutrition.personalization.signals import SAID_CONFIDENCE, bump, check_spice, disliked, nudge_cuisine

SAID_AFFINITY = (0.8, 5.0)  # "I love Thai": five ratings' worth (sure enough not to ask again), ratings still move it


def said_spice(prefs: UserPreferences, level: int, at: dt.datetime) -> UserPreferences:
    """An answer: the hottest spice level (0-3) the person enjoys."""
    check_spice(level)
    return dataclasses.replace(prefs, spice_tolerance=Learned(level, SAID_CONFIDENCE, "said", iso_utc(at)))


def said_cooking_skill(prefs: UserPreferences, skill: str, at: dt.datetime) -> UserPreferences:
    if skill not in SKILLS:
        raise ValueError(f"cooking skill should be one of {', '.join(SKILLS)}, got {skill!r}")
    return dataclasses.replace(prefs, cooking_skill=Learned(skill, SAID_CONFIDENCE, "said", iso_utc(at)))


def said_budget(prefs: UserPreferences, budget: str, at: dt.datetime) -> UserPreferences:
    if budget not in BUDGETS:
        raise ValueError(f"budget sensitivity should be one of {', '.join(BUDGETS)}, got {budget!r}")
    return dataclasses.replace(prefs, budget_sensitivity=Learned(budget, SAID_CONFIDENCE, "said", iso_utc(at)))


def said_cuisines(
    prefs: UserPreferences, *, liked: Sequence[str] = (), disliked: Sequence[str] = (), at: dt.datetime
) -> UserPreferences:
    """An answer: "I love Thai and Indian, not Japanese"."""
    target, weight = SAID_AFFINITY
    cuisines = prefs.cuisines
    for cuisine in liked:
        cuisines = nudge_cuisine(cuisines, cuisine, target, weight, "said", at)
    for cuisine in disliked:
        cuisines = nudge_cuisine(cuisines, cuisine, -target, weight, "said", at)
    return dataclasses.replace(prefs, cuisines=cuisines)


def said_dislikes(prefs: UserPreferences, foods: Sequence[str], at: dt.datetime) -> UserPreferences:
    """An answer to "any foods you'd rather not see?": each food a said dislike; "none" (no foods) is an answer
    too, so the question is not asked again."""
    for food in foods:
        prefs = disliked(prefs, food, at)
    return dataclasses.replace(prefs, counts=bump(prefs, "answered_dislikes"))


def question_asked(prefs: UserPreferences, field: str, at: dt.datetime) -> UserPreferences:
    """Counts a question asked (`next_question` asks an unanswered field less often each time)."""
    return dataclasses.replace(prefs, counts=bump(prefs, "questions_asked", f"asked_{field}"))
