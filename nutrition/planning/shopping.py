"""The shopping list of a plan: its ingredients summed per shop item over the days, rounded up to whole packs
(2 × 400 g tin, 1 dozen), grouped by aisle, less what the person says they already have ("I have rice")."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nutrition.planning.planner import Plan
    from nutrition.planning.recipes import Price, PricedRecipe

# The order a shop is usually walked in; aisles not listed come after, alphabetically.
AISLE_ORDER = (
    "Produce",
    "Meat & seafood",
    "Dairy & eggs",
    "Deli",
    "Bakery",
    "Frozen",
    "Pasta & grains",
    "Canned goods",
    "Pantry",
    "Spices & condiments",
)
# Words around what people have: "I've already got some rice and the eggs" → rice, eggs.
_FILLER = frozenset(
    [
        "i",
        "i've",
        "ive",
        "im",
        "i'm",
        "we",
        "we've",
        "have",
        "has",
        "got",
        "already",
        "still",
        "some",
        "a",
        "an",
        "the",
        "of",
        "my",
        "our",
        "in",
        "at",
        "home",
        "plenty",
        "lots",
        "enough",
        "there's",
        "theres",
        "there",
        "is",
        "are",
        "left",
        "bought",
    ]
)


@dataclass(frozen=True)
class ShopLine:
    item: str
    aisle: str
    grams: float  # as the recipes weigh it (as eaten); the pack label says what the shop sells
    packs: int
    pack_label: str
    cost_usd: float  # whole packs
    used_usd: float = 0.0  # the part of it the plan's meals eat; the rest of the packs keeps for later


@dataclass(frozen=True)
class ShoppingList:
    lines: tuple[ShopLine, ...]  # in aisle order, then by item
    have: tuple[ShopLine, ...] = ()  # left off: the person has them
    unmatched: tuple[str, ...] = ()  # what the person said they have that is on no line

    @property
    def total_usd(self) -> float:
        return sum(line.cost_usd for line in self.lines)

    @property
    def used_usd(self) -> float:
        """What the plan's meals eat of the packs bought: a bottle of oil costs more than the week uses."""
        return sum(line.used_usd for line in self.lines)

    def aisles(self) -> dict[str, list[ShopLine]]:
        grouped: dict[str, list[ShopLine]] = {}
        for line in self.lines:
            grouped.setdefault(line.aisle, []).append(line)
        return grouped

    def to_dict(self) -> dict:
        return {
            "lines": [asdict(line) for line in self.lines],
            "have": [asdict(line) for line in self.have],
            "unmatched": list(self.unmatched),
            "total_usd": round(self.total_usd, 2),
            "used_usd": round(self.used_usd, 2),
        }


def shopping_list(
    plan: Plan, catalogue: Sequence[PricedRecipe], prices: Mapping[str, Price], have: Iterable[str] = ()
) -> ShoppingList:
    """What to buy for `plan`, less the items `have` names (each entry may name several: "rice and eggs").

    Raises:
        ValueError: a meal's recipe is not in the catalogue, or an ingredient's item has no price.
    """
    by_id = {p.recipe.id: p.recipe for p in catalogue}
    grams: dict[str, float] = {}
    for day in plan.days:
        for meal in day.meals:
            if meal.recipe_id not in by_id:
                raise ValueError(f"the plan's {meal.recipe_id!r} (day {day.index + 1}) is not in the catalogue")
            recipe = by_id[meal.recipe_id]
            for ingredient in recipe.ingredients:
                grams[ingredient.item] = (
                    grams.get(ingredient.item, 0.0) + ingredient.grams * meal.servings / recipe.servings
                )
    if missing := sorted(set(grams) - set(prices)):
        raise ValueError(f"no price for {missing}: every recipe item must be in the price table")
    lines = sorted((_line(prices[item], g) for item, g in grams.items()), key=_shelf_order)
    phrases = [p for entry in have for p in have_phrases(entry)]
    had = {p: _had(p, lines) for p in phrases}
    removed = {line.item for items in had.values() for line in items}
    kept = tuple(line for line in lines if line.item not in removed)
    gone = tuple(line for line in lines if line.item in removed)
    return ShoppingList(kept, gone, tuple(p for p, items in had.items() if not items))


def _line(price: Price, grams: float) -> ShopLine:
    packs = max(1, math.ceil(grams / price.pack_grams - 1e-9))
    used = grams / price.pack_grams * price.pack_price_usd
    return ShopLine(price.item, price.aisle, grams, packs, price.pack_label, packs * price.pack_price_usd, used)


def _shelf_order(line: ShopLine) -> tuple:
    known = line.aisle in AISLE_ORDER
    return (not known, AISLE_ORDER.index(line.aisle) if known else 0, line.aisle, line.item)


def have_phrases(text: str) -> list[str]:
    """The things a person says they have: 'I have rice and 2 onions' → ['rice', 'onions']."""
    phrases = []
    for chunk in re.split(r",|;|\band\b|&|\+|\bplus\b", text.lower().replace("’", "'")):
        words = [w for w in re.findall(r"[a-z']+", chunk) if w not in _FILLER]
        if words:
            phrases.append(" ".join(words))
    return phrases


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("oes", "ches", "shes", "xes", "sses")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _words(text: str) -> list[str]:
    return [_singular(w) for w in re.findall(r"[a-z]+", text.lower())]


def _had(phrase: str, lines: Sequence[ShopLine]) -> list[ShopLine]:
    """The lines a phrase names: every word said is a word of the item, plurals forgiven ('rice' → white rice,
    'tomatoes' → canned tomatoes). Where some of those are the thing itself (the item's last word said), only
    they: 'rice' is white rice, not rice vinegar; 'chicken' is still chicken breast."""
    said = _words(phrase)
    named = [line for line in lines if said and set(said) <= set(_words(line.item))]
    itself = [line for line in named if _words(line.item)[-1] in said]
    return itself or named
