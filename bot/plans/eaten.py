"""Is a logged meal one of today's planned meals? Matched on the recipe's main ingredients (the same SR28 food
for a typed meal, a word of the shopping item in the food's name for a photo) or, for a photo that names the
whole dish, on the recipe's name. Pure: the plan wing (`PlanLists.eaten`) gives it today's meals.

Strict on purpose: two main ingredients (or all of a recipe that has one) must be there, so a chicken sandwich
is not the planned chicken curry; a miss only costs a signal, a false match a wrong rating."""

from __future__ import annotations

import re
from collections.abc import Sequence

from nutrition.planning.recipes import Recipe

MAIN_SHARE = 0.15  # an ingredient with at least this share of the recipe's grams is a main one
MIN_MAIN, NAME_WORDS = 2, 2  # main ingredients to find / words of the recipe's name a dish's name must share
SLOT_HOURS = {"breakfast": 8, "lunch": 13, "snack": 16, "dinner": 19}
# words of a shopping item or a recipe's name that do not say which food it is
_VAGUE = frozenset(
    [
        "canned",
        "frozen",
        "fresh",
        "baby",
        "ground",
        "white",
        "brown",
        "dried",
        "low",
        "fat",
        "lean",
        "boneless",
        "skinless",
        "whole",
        "large",
        "small",
        "plain",
        "cooked",
        "raw",
        "mixed",
        "light",
        "extra",
        "virgin",
        "with",
        "and",
        "the",
        "in",
        "of",
        "on",
        "a",
        "style",
        "homemade",
        "quick",
        "easy",
        "sheet",
        "pan",
        "bowl",
    ]
)
Eaten = tuple[str, str]  # (name, display name) of a logged food: an NDB number or a photo label, and its words


def _key_words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 3 and w not in _VAGUE}


def main_ingredients(recipe: Recipe) -> list:
    """The ingredients with at least MAIN_SHARE of the recipe's grams (the heaviest one at least)."""
    total = sum(i.grams for i in recipe.ingredients) or 1.0
    main = [i for i in recipe.ingredients if i.grams >= MAIN_SHARE * total]
    return main or [max(recipe.ingredients, key=lambda i: i.grams)]


def _names(food: Eaten, ingredient) -> bool:
    name, display = food
    if name == ingredient.ndb:
        return True
    said = {w.rstrip("s") for w in re.findall(r"[a-z]+", display.lower())}
    return bool(_key_words(ingredient.item) & said)


def match_score(foods: Sequence[Eaten], recipe: Recipe) -> int:
    """How well the logged `foods` fit `recipe`: the main ingredients found (0 when too few to call it that
    recipe), or NAME_WORDS when one food's name shares that many key words with the recipe's name."""
    main = main_ingredients(recipe)
    found = sum(any(_names(food, ingredient) for food in foods) for ingredient in main)
    if found >= min(MIN_MAIN, len(main)):
        return found
    named = _key_words(recipe.name)
    if any(len(_key_words(display) & named) >= NAME_WORDS for _, display in foods):
        return NAME_WORDS
    return 0


def best_meal(foods: Sequence[Eaten], candidates: Sequence[tuple[tuple[int, str], Recipe]], hour: int):
    """The key (day, slot) of the candidate the foods fit best, ties going to the slot nearest `hour`; None when
    none fits."""
    scored = [(match_score(foods, recipe), -abs(SLOT_HOURS.get(key[1], 12) - hour), key) for key, recipe in candidates]
    scored = [s for s in scored if s[0] > 0]
    return max(scored)[2] if scored else None
