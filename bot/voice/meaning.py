"""What a message means to the bot, as a comparable value: the foods and amounts of a meal, a correction, or a
command. Read in the order the conversation reads (`bot.coach.conversation`): what was learned, meal plans,
commands, corrections, meals.

It picks, among the recogniser's best guesses, the first the bot understands, and the benchmark compares what a
note logged with what was said.
"""

from __future__ import annotations

from bot.coach.commands import classify
from bot.personal.intents import parse as parse_personal
from bot.plans.intents import parse as parse_plan
from nutrition.corrections import parse_correction
from nutrition.meal_text import known_food, looks_like_meal, split_parts
from nutrition.units import UnitError

Meaning = tuple


def meal_of(text: str) -> Meaning | None:
    """('meal', ((ndb, amount, unit), ...)) sorted, when every part names a food typed meals know; else None."""
    if not looks_like_meal(text):
        return None
    try:
        parts = split_parts(text)
    except (UnitError, ValueError):
        return None
    foods = []
    for part in parts:
        name = known_food(part.food) if part.food else None
        if name is None:
            return None
        foods.append((name.ndb, 1.0 if part.amount is None else part.amount, part.unit))
    return ("meal", tuple(sorted(foods, key=str))) if foods else None


def meaning_of(text: str) -> Meaning | None:
    """What `text` (a typed message) asks of the bot; None when the bot would not understand it."""
    body = text.strip()
    if not body:
        return None
    if (personal := parse_personal(body)) is not None:
        return ("personal", personal.name, personal.field)
    if (plan := parse_plan(body)) is not None:
        return ("plan", plan.name)
    if (intent := classify(body)) is not None:
        return ("command", intent.name, intent.arg)
    if (correction := parse_correction(body)) is not None:
        return ("correction", correction.kind, correction.target, correction.food, correction.grams)
    return meal_of(body)
