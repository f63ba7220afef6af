"""A food people named for a crop → the meal item we log: the SR28 food (as the typed-meal path reads names) and
its grams: what the person said, else what the model server sized, else one household portion."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.records import ItemRecord
from nutrition.food_names import FoodName
from nutrition.meal_text import Part, grams_of, known_food, short_name
from nutrition.usda_table import NutritionTable, UnknownFoodError


@dataclass(frozen=True)
class Food:
    """`label` is what the meal logs: an SR28 NDB number, or an ECUSTFD type whose photo grams weigh the whole
    item (peel, core) rather than its edible part."""

    label: str
    ndb: str | None
    display_name: str
    name: FoodName | None = None
    whole_item: bool = False

    def choice(self) -> dict:
        return {"name": self.label, "display_name": self.display_name, "ndb": self.ndb}


def food_named(table: NutritionTable, name: str, display: str | None = None, ndb: str | None = None) -> Food | None:
    """The food `name` (a suggestion's name, what a person typed, a label we logged) or `ndb` is; None when the
    table lacks it. ECUSTFD types ('apple') first: their photo grams weigh the whole item."""
    words = (name or "").strip().lower()
    if words and not words.isdigit():
        try:
            facts = table.facts(words)
        except UnknownFoodError:
            facts = None
        if facts is not None:
            return Food(words, facts.ndb, display or facts.name, known_food(words), whole_item=True)
    curated = known_food(words) if words and not words.isdigit() else None
    if ndb or words.isdigit():
        ndb = ndb or words
        try:
            facts = table.facts(ndb)
        except UnknownFoodError:
            facts = None
        if facts is not None:
            if curated is None or curated.ndb != ndb:  # piece sizes come with the curated name, if one fits
                curated = known_food(display.lower()) if display else None
                curated = curated if curated and curated.ndb == ndb else None
            shown = display or (curated.display if curated else short_name(facts.name))
            return Food(ndb, ndb, shown, curated)
    if curated is not None:
        return Food(curated.ndb, curated.ndb, curated.display, curated)
    return None


def search_choices(table: NutritionTable, text: str, limit: int = 3) -> list[Food]:
    """SR28 foods whose description shares words with `text`, to offer as numbered choices."""
    return [Food(ndb, ndb, short_name(description)) for ndb, description in table.search(text, limit)]


def _portion(table: NutritionTable, food: Food) -> tuple[float, str] | None:
    """One '1 <food>' as the typed-meal path weighs it, else the food's first SR28 household portion."""
    ndb = food.ndb or food.label
    weighed = grams_of(table, ndb, 1, None, food.name)
    if weighed is not None:
        return weighed[0], "one typical portion"
    try:
        portions = table.portions(ndb)
    except (KeyError, UnknownFoodError):
        return None
    if not len(portions):
        return None
    first = portions.iloc[0]
    amount = float(first["amount"])
    return float(first["grams"]) / amount, f"1 {first['unit']}"


def photo_item(
    table: NutritionTable, food: Food, photo_index: int, sized: dict, said: Part | None = None
) -> tuple[ItemRecord, str | None] | None:
    """The item to log for `food` and, when its grams are a household portion, that portion's words.

    `sized`: the unknown item as the server sized it (grams, grams_low, grams_high; None when nothing could);
    `said`: what the person wrote, when it says how much ("200 g of pasta"). None: we can't tell the grams."""
    portion = None
    ndb = food.ndb or food.label
    weighed = None
    if said is not None and (said.unit or (said.amount is not None and said.amount != 1)):
        weighed = grams_of(table, ndb, said.amount, said.unit, food.name)
    if weighed is not None:
        grams = low = high = weighed[0]
        label, whole = ndb, False  # the person's grams are what they ate
    elif sized.get("grams"):
        grams = float(sized["grams"])
        low, high = float(sized.get("grams_low") or grams), float(sized.get("grams_high") or grams)
        label, whole = food.label, food.whole_item
    else:
        found = _portion(table, food)
        if found is None:
            return None
        grams, portion = found
        low = high = grams
        label, whole = ndb, False
    n = table.nutrients(label, grams, whole_item=whole)
    item = ItemRecord(
        photo_index, label, food.display_name, grams, low, high, n.kcal, n.protein_g, n.fat_g, n.carbs_g, 1.0
    )
    return item, portion
