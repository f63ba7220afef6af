"""A person's meal-plan preferences and budget: the ONE place the planner's `Preferences` are built, from what the
person said and what was learned about them (`nutrition.personalization.use.planner_preferences`).

Stored per person (`PlanStore.meal_preferences`): {dislikes, cuisines, max_spice, max_minutes, budget}, budget
being "tight", "normal", "generous" or US dollars a week; without one, a save-money goal means "tight".
"""

from __future__ import annotations

from bot.storage.records import ProfileRecord
from nutrition.personalization.preferences import UserPreferences
from nutrition.personalization.use import planner_preferences
from nutrition.planning.planner import Preferences
from nutrition.targets import Goal

# US dollars per person per week; generous: no limit. "tight" is what a save-money goal starts with: the cheapest
# week of the catalogue at 2,000 kcal costs about $36 (data/recipes/prices.csv), so tight leaves a little room.
BUDGETS: dict[str, float | None] = {"tight": 40.0, "normal": 60.0, "generous": None}
SPICE_WORDS = {"spicy": 0, "spice": 0, "spicy food": 0, "hot food": 0, "chili": 0, "too spicy": 1, "very spicy": 1}


def preferences_of(saved: dict, learned: UserPreferences | None = None) -> Preferences:
    """What the planner prefers: what the person said (`saved`) always, what was learned where sure enough.
    Allergies are not preferences: the planner applies them separately, and nothing here can loosen them."""
    return planner_preferences(learned if learned is not None else UserPreferences.empty(), saved)


def budget_of(saved: dict, profile: ProfileRecord) -> float | None:
    """US dollars a week for the person's plans; None: no limit."""
    budget = saved.get("budget")
    if budget is None:
        return BUDGETS["tight"] if profile.goal == Goal.SAVE_MONEY.value else None
    if isinstance(budget, str):
        return BUDGETS[budget]
    return float(budget)


def with_dislikes(saved: dict, words: tuple[str, ...]) -> dict:
    """`saved` with `words` disliked; spice words ("spicy") lower the spice limit instead."""
    changed = dict(saved)
    for word in words:
        if word in SPICE_WORDS:
            changed["max_spice"] = min(SPICE_WORDS[word], changed.get("max_spice", 3))
        else:
            changed["dislikes"] = list(dict.fromkeys([*changed.get("dislikes", ()), word]))
    return changed


def with_budget(saved: dict, budget: str | float) -> dict:
    if isinstance(budget, str) and budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}: expected one of {sorted(BUDGETS)} or dollars a week")
    return {**saved, "budget": budget}


def budget_text(saved: dict, profile: ProfileRecord) -> str:
    budget = budget_of(saved, profile)
    return "no budget limit" if budget is None else f"${budget:,.0f} a week"
