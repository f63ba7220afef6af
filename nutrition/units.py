"""Household amounts and units: "1/2", "half", "2 cups", "150g", "8 oz" → a number and a canonical unit."""

from __future__ import annotations

import re
from fractions import Fraction

GRAMS_PER = {"g": 1.0, "kg": 1000.0, "oz": 28.349523125, "lb": 453.59237, "mg": 0.001}
ML_PER = {
    "ml": 1.0,
    "l": 1000.0,
    "cup": 236.5882365,
    "tbsp": 14.78676478125,
    "tsp": 4.92892159375,
    "fl oz": 29.5735295625,
}
COUNT_UNITS = ("piece", "slice", "small", "medium", "large")
_ALIASES = {
    "g": "g",
    "gram": "g",
    "grams": "g",
    "gr": "g",
    "kg": "kg",
    "kilo": "kg",
    "kilos": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "mg": "mg",
    "oz": "oz",
    "ounce": "oz",
    "ounces": "oz",
    "lb": "lb",
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
    "ml": "ml",
    "milliliter": "ml",
    "milliliters": "ml",
    "millilitre": "ml",
    "millilitres": "ml",
    "l": "l",
    "liter": "l",
    "liters": "l",
    "litre": "l",
    "litres": "l",
    "cup": "cup",
    "cups": "cup",
    "tbsp": "tbsp",
    "tablespoon": "tbsp",
    "tablespoons": "tbsp",
    "tsp": "tsp",
    "teaspoon": "tsp",
    "teaspoons": "tsp",
    "fl oz": "fl oz",
    "piece": "piece",
    "pieces": "piece",
    "pc": "piece",
    "pcs": "piece",
    "slice": "slice",
    "slices": "slice",
    "small": "small",
    "medium": "medium",
    "large": "large",
    "big": "large",
}
_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "half": 0.5,
    "quarter": 0.25,
    "a half": 0.5,
    "half a": 0.5,
    "half an": 0.5,
    "a quarter": 0.25,
    "couple": 2,
    "a couple of": 2,
}


class UnitError(ValueError):
    """An amount or unit we cannot read."""


def canonical_unit(text: str) -> str:
    """'Tablespoons' → 'tbsp'. Raises UnitError for an unknown unit."""
    key = text.strip().lower().rstrip(".")
    if key not in _ALIASES:
        raise UnitError(f"unknown unit {text!r}; known: {sorted(set(_ALIASES.values()))}")
    return _ALIASES[key]


def parse_amount(text: str) -> float:
    """'2' → 2, '1/2' → 0.5, '1 1/2' → 1.5, '1.5' → 1.5, 'half' → 0.5, 'a' → 1. Raises UnitError."""
    key = text.strip().lower()
    if key in _WORDS:
        return float(_WORDS[key])
    try:
        value = float(sum(Fraction(part) for part in key.split()))
    except (ValueError, ZeroDivisionError) as exc:
        raise UnitError(f"cannot read the amount {text!r}") from exc
    if value <= 0:
        raise UnitError(f"amount {text!r} is not positive")
    return value


def to_grams(amount: float, unit: str, density_g_per_ml: float = 1.0) -> float:
    """Mass or volume → grams (volumes through `density_g_per_ml`, 1.0 for water-like drinks)."""
    unit = canonical_unit(unit)
    if amount <= 0:
        raise UnitError(f"amount {amount} is not positive")
    if unit in GRAMS_PER:
        return amount * GRAMS_PER[unit]
    if unit in ML_PER:
        return amount * ML_PER[unit] * density_g_per_ml
    raise UnitError(f"{unit!r} is a count, not a mass or volume: it needs the food's portion table")


_QUANTITY = re.compile(r"^\s*(?P<amount>\d+(?:[.,]\d+)?(?:\s+\d+/\d+)?|\d+/\d+)\s*(?P<unit>[a-zA-Z. ]+?)?\s*$")


def parse_quantity(text: str) -> tuple[float, str | None]:
    """'150g' → (150, 'g'); '2 cups' → (2, 'cup'); '3' → (3, None)."""
    match = _QUANTITY.match(text.replace(",", "."))
    if match is None:
        raise UnitError(f"cannot read the quantity {text!r}")
    unit = match["unit"]
    return parse_amount(match["amount"]), canonical_unit(unit) if unit else None
