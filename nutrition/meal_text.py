"""Meals typed as text → USDA foods, grams and nutrients: "2 eggs and a slice of toast", "150g chicken breast".

Each part of the message is read as amount, unit and food. Foods come from the curated everyday names
(`nutrition.food_names`) or, failing that, from a search of the table whose top matches are put back to the
person as a question: we never log a guess silently.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from nutrition.food_names import FOODS, FoodName
from nutrition.units import GRAMS_PER, ML_PER, UnitError, canonical_unit, parse_amount
from nutrition.usda_table import Nutrients, NutritionTable

# Containers and handfuls: typical sizes, in mL (drinks, bowls) or grams.
CONTAINER_ML = {"glass": 250.0, "can": 355.0, "bottle": 500.0, "mug": 240.0, "bowl": 355.0, "shot": 44.0}
HANDFUL_G = 30.0
_EXTRA_UNITS = {
    "glass": "glass",
    "glasses": "glass",
    "can": "can",
    "cans": "can",
    "bottle": "bottle",
    "bottles": "bottle",
    "mug": "mug",
    "mugs": "mug",
    "bowl": "bowl",
    "bowls": "bowl",
    "handful": "handful",
    "handfuls": "handful",
    "shot": "shot",
    "shots": "shot",
}
_UNIT_WORDS = sorted(
    {
        "g",
        "gram",
        "grams",
        "gr",
        "kg",
        "kilo",
        "kilos",
        "oz",
        "ounce",
        "ounces",
        "lb",
        "lbs",
        "pound",
        "pounds",
        "ml",
        "l",
        "liter",
        "liters",
        "litre",
        "litres",
        "cup",
        "cups",
        "tbsp",
        "tablespoon",
        "tablespoons",
        "tsp",
        "teaspoon",
        "teaspoons",
        "fl oz",
        "piece",
        "pieces",
        "slice",
        "slices",
        "small",
        "medium",
        "large",
        "big",
        *_EXTRA_UNITS,
    },
    key=len,
    reverse=True,
)
_NUMBER = r"\d+\s+\d+/\d+|\d+/\d+|\d+(?:[.,]\d+)?"
_WORD_AMOUNT = r"half an?|an? half|an? quarter|quarter|half|a couple of|couple of|an?|one|two|three|four|five|six|seven|eight|nine|ten"
_AMOUNT_WORDS = {"seven": 7, "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "couple of": 2, "half an": 0.5}
_UNITS_RE = "|".join(re.escape(u) for u in _UNIT_WORDS)
_PART = re.compile(
    rf"^(?:(?P<amount>{_NUMBER}|{_WORD_AMOUNT})\s*)?(?:(?P<unit>{_UNITS_RE})\.?(?![a-z])\s*)?(?:of\s+)?(?P<food>.*?)$"
)
_TRAILING = re.compile(rf"^(?P<food>[a-z][a-z ]*?)\s+(?P<amount>{_NUMBER})\s*(?P<unit>g|kg|oz|lb|lbs|ml|l)$")
_LEAD = re.compile(
    r"^(?:(?:for |at )?(?:breakfast|lunch|dinner|supper|brunch|snack)\s*[:,-]?\s*(?:i\s+)?(?:had|ate)?\s*|"
    r"(?:i\s+)?(?:just\s+)?(?:had|ate|eaten|drank)\s+|i'?ve\s+(?:had|eaten)\s+)"
)
_SPLIT = re.compile(r"\s*(?:,|;|\+|&|\band\b|\bwith\b|\bplus\b)\s*")


class MealTextError(ValueError):
    """Text we could not read as a meal."""


@dataclass(frozen=True)
class Part:
    """One "amount unit food" piece of a message, as typed."""

    text: str
    amount: float | None
    unit: str | None
    food: str


@dataclass(frozen=True)
class LoggedFood:
    part: Part
    ndb: str
    name: str
    grams: float
    ml: float | None
    nutrients: Nutrients


@dataclass(frozen=True)
class Question:
    """What we must ask before logging `part`: which food ('which'), none found ('unknown'), or how much."""

    part: Part
    kind: str
    choices: tuple[tuple[str, str], ...] = ()  # (ndb, description)
    ndb: str | None = None


@dataclass
class ReadMeal:
    foods: list[LoggedFood] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


def _amount(text: str) -> float:
    key = re.sub(r"\s+", " ", text.strip().lower())
    if key in _AMOUNT_WORDS:
        return float(_AMOUNT_WORDS[key])
    return parse_amount(key.replace(",", "."))


def _unit(word: str) -> str:
    word = word.strip().lower()
    return _EXTRA_UNITS.get(word) or canonical_unit(word)


def split_parts(text: str) -> list[Part]:
    """'I had 2 eggs and a slice of toast' → [Part(2, None, 'eggs'), Part(1, 'slice', 'toast')]."""
    body = text.strip().lower().replace("’", "'").rstrip(".!?")
    body = _LEAD.sub("", body, count=1)
    parts = []
    for chunk in _SPLIT.split(body):
        chunk = re.sub(r"\s+", " ", chunk).strip(" .-")
        if not chunk:
            continue
        trailing = _TRAILING.match(chunk)
        if trailing:
            parts.append(Part(chunk, _amount(trailing["amount"]), _unit(trailing["unit"]), trailing["food"].strip()))
            continue
        match = _PART.match(chunk)
        amount = _amount(match["amount"]) if match["amount"] else None
        unit = _unit(match["unit"]) if match["unit"] else None
        food = re.sub(r"^(?:of|some|the|my)\s+", "", match["food"]).strip()
        if not food and unit in ("small", "medium", "large"):  # "a large" needs a food after it
            food, unit = match["unit"], None
        parts.append(Part(chunk, amount, unit, food))
    return parts


def singular_forms(food: str) -> list[str]:
    forms = [food]
    for suffix, repl in (("ies", "y"), ("oes", "o"), ("es", ""), ("s", "")):
        if food.endswith(suffix):
            forms.append(food[: -len(suffix)] + repl)
    return forms


def known_food(food: str) -> FoodName | None:
    """The curated everyday food `food` names, allowing plurals and a typo ('chiken breast')."""
    for form in singular_forms(food):
        if form in FOODS:
            return FOODS[form]
    close = difflib.get_close_matches(food, FOODS, n=1, cutoff=0.85)
    return FOODS[close[0]] if close else None


def _portion_grams(table: NutritionTable, ndb: str, amount: float, unit: str) -> float | None:
    """SR28's own portion named exactly `unit` ('slice' 22 g beats 'slice, large' 27 g), else the table's rule."""
    try:
        portions = table.portions(ndb)
    except KeyError:
        return None
    exact = portions[portions["unit"].str.lower() == unit]
    if len(exact):
        return amount * float(exact.iloc[0]["grams"]) / float(exact.iloc[0]["amount"])
    try:
        return table.grams_for(ndb, amount, unit)
    except (UnitError, KeyError):
        return None


def grams_of(
    table: NutritionTable, ndb: str, amount: float | None, unit: str | None, name: FoodName | None
) -> tuple[float, float | None] | None:
    """(grams, mL for drinks or None), or None when we can't tell how much that is."""
    drink = bool(name and name.drink)
    if unit is None:
        unit = "cup" if drink else "piece"  # "a coffee": one cup
    amount = 1.0 if amount is None else amount
    if unit in GRAMS_PER:
        return amount * GRAMS_PER[unit], None
    if unit == "handful":
        return amount * HANDFUL_G, None
    if unit in CONTAINER_ML:
        unit, amount = "ml", amount * CONTAINER_ML[unit]
    if unit in ML_PER:
        ml = amount * ML_PER[unit]
        grams = _portion_grams(table, ndb, amount, unit)
        if grams is None and drink:
            grams = ml  # water-like
        return (grams, ml if drink else None) if grams is not None else None
    grams = _portion_grams(table, ndb, amount, unit)
    if grams is None and unit == "piece" and name and name.piece_g:
        grams = amount * name.piece_g
    if grams is None and unit in ("small", "medium", "large") and name and name.piece_g:
        grams = amount * name.piece_g * {"small": 0.75, "medium": 1.0, "large": 1.3}[unit]
    if grams is None and unit == "slice" and name and name.piece_g:
        grams = amount * name.piece_g
    return (grams, None) if grams is not None else None


def log_part(table: NutritionTable, part: Part, ndb: str, name: FoodName | None) -> LoggedFood | Question:
    """Weigh `part` as food `ndb`, or say we need to ask how much."""
    weighed = grams_of(table, ndb, part.amount, part.unit, name)
    if weighed is None:
        return Question(part, "how_much", ndb=ndb)
    grams, ml = weighed
    display = name.display if name else short_name(table.facts(ndb).name)
    return LoggedFood(part, ndb, display, grams, ml, table.nutrients(ndb, grams, whole_item=False))


def short_name(description: str) -> str:
    """'Quinoa, cooked' stays; 'Rice, white, long-grain, regular, enriched, cooked' → 'Rice, white'."""
    return ", ".join(description.split(", ")[:2])


def read_meal(text: str, table: NutritionTable) -> ReadMeal:
    """Every part of `text` logged, or a question about it."""
    meal = ReadMeal()
    for part in split_parts(text):
        if not part.food:
            raise MealTextError(f"no food named in {part.text!r}")
        name = known_food(part.food)
        if name is not None:
            result = log_part(table, part, name.ndb, name)
        else:
            choices = tuple(table.search(part.food, 3))
            result = Question(part, "which" if choices else "unknown", choices)
        (meal.foods if isinstance(result, LoggedFood) else meal.questions).append(result)
    return meal


def looks_like_meal(text: str) -> bool:
    """Whether a message reads as a meal: an eating verb, or parts that carry amounts or name foods we know."""
    lowered = text.strip().lower()
    if not lowered or lowered.endswith("?"):
        return False
    if _LEAD.match(lowered):
        return True
    try:
        parts = split_parts(lowered)
    except (UnitError, ValueError):
        return False
    return bool(parts) and all(p.food and (p.amount is not None or p.unit or known_food(p.food)) for p in parts)


def has_amounts(text: str) -> bool:
    """Whether a message states how much was eaten ('2 eggs', '150g rice') or says it was eaten ('I had...')."""
    lowered = text.strip().lower()
    if _LEAD.match(lowered):
        return True
    try:
        return any(p.amount is not None or p.unit for p in split_parts(lowered))
    except (UnitError, ValueError):
        return False
