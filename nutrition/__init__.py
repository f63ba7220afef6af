"""Shared nutrition domain code: USDA food table, household units and portions, daily targets.

Used by training, serving and the bot alike; it imports none of them and nothing heavier than pandas.
"""

from nutrition.usda_table import FoodFacts, Nutrients, NutritionTable, UnknownFoodError, UnknownUnitError

__all__ = ["FoodFacts", "Nutrients", "NutritionTable", "UnknownFoodError", "UnknownUnitError"]
