"""The nutrition table built by the `nutrition_table` stage: per-100 g facts, portions, kcal and macros."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nutrition.units import COUNT_UNITS, ML_PER, UnitError, canonical_unit, to_grams

if TYPE_CHECKING:  # pandas is imported when a table is loaded: the bot imports this module without it
    import pandas as pd

UnknownUnitError = UnitError


class UnknownFoodError(KeyError):
    """No food of that name or NDB number."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


@dataclass(frozen=True)
class Nutrients:
    kcal: float
    protein_g: float
    fat_g: float
    carbs_g: float

    def __add__(self, other: Nutrients) -> Nutrients:
        return Nutrients(*(a + b for a, b in zip(self.astuple(), other.astuple())))

    def astuple(self) -> tuple[float, float, float, float]:
        return (self.kcal, self.protein_g, self.fat_g, self.carbs_g)

    def scaled(self, factor: float) -> Nutrients:
        return Nutrients(*(v * factor for v in self.astuple()))


ZERO = Nutrients(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class FoodFacts:
    """Per 100 g of the edible part."""

    key: str  # ECUSTFD food type or NDB number
    name: str
    ndb: str | None
    per_100g: Nutrients
    edible_fraction: float  # share of a whole item's weight that is eaten (peel, shell, core removed)


_TOKEN = re.compile(r"[a-z]+")
# The files `dvc repro nutrition_table` writes, in the order NutritionTable takes them.
TABLE_FILES = ("foods.parquet", "portions.parquet", "ecustfd_foods.parquet")


class NutritionTable:
    """Answers per-100 g facts, kcal/macros for grams, portion weights and food searches."""

    def __init__(self, foods: pd.DataFrame, portions: pd.DataFrame, ecustfd: pd.DataFrame):
        self._foods = foods.set_index("ndb", drop=False)
        self._portions = portions
        self._ecustfd = ecustfd.set_index("food", drop=False)

    @classmethod
    def load(cls, directory: Path | str) -> NutritionTable:
        directory = Path(directory)
        files = [directory / n for n in TABLE_FILES]
        if missing := [str(f) for f in files if not f.is_file()]:
            raise FileNotFoundError(f"nutrition tables missing: {missing} (run `dvc repro nutrition_table`)")
        import pandas as pd

        return cls(*(pd.read_parquet(f) for f in files))

    def facts(self, food: str) -> FoodFacts:
        """Facts for an ECUSTFD food type (`apple`) or an SR28 NDB number (`09003`)."""
        if food in self._ecustfd.index:
            row = self._ecustfd.loc[food]
            ndb = row["ndb"] if isinstance(row["ndb"], str) else None
            return FoodFacts(food, row["display"], ndb, self._nutrients(row), float(row["edible_fraction"]))
        if food in self._foods.index:
            row = self._foods.loc[food]
            return FoodFacts(food, row["description"], food, self._nutrients(row), 1.0)
        raise UnknownFoodError(f"unknown food {food!r}: not an ECUSTFD type nor an SR28 NDB number")

    @staticmethod
    def _nutrients(row: pd.Series) -> Nutrients:
        return Nutrients(float(row["kcal"]), float(row["protein_g"]), float(row["fat_g"]), float(row["carbs_g"]))

    def kcal(self, food: str, grams: float) -> float:
        """kcal of `grams` of `food` as photographed (whole item)."""
        return self.nutrients(food, grams).kcal

    def nutrients(self, food: str, grams: float, whole_item: bool = True) -> Nutrients:
        """kcal and macros of `grams` of `food`.

        Args:
            whole_item: the grams weigh the whole item as photographed (peel, shell, core included): only
                the edible fraction counts. False when the grams are already the edible part.
        """
        if grams < 0:
            raise ValueError(f"grams must not be negative, got {grams}")
        facts = self.facts(food)
        edible = grams * (facts.edible_fraction if whole_item else 1.0)
        return facts.per_100g.scaled(edible / 100)

    def portions(self, food: str) -> pd.DataFrame:
        """SR28 household portions (amount, unit, grams) of a food."""
        ndb = self.facts(food).ndb
        return self._portions[self._portions["ndb"] == ndb][["amount", "unit", "grams"]].reset_index(drop=True)

    def grams_for(self, food: str, amount: float, unit: str) -> float:
        """Grams of edible food in `amount` `unit`: mass units directly; cups, pieces, sizes via SR28 portions.

        Raises:
            UnknownUnitError: neither a mass unit nor a portion this food has in SR28.
        """
        unit = canonical_unit(unit)
        if unit not in ML_PER and unit not in COUNT_UNITS:
            return to_grams(amount, unit)
        table = self.portions(food)
        words = {"piece": ("medium", "whole", "piece", "fruit", "large", "item"), "cup": ("cup",), "slice": ("slice",)}
        for word in words.get(unit, (unit,)):
            hits = table[table["unit"].str.lower().str.contains(rf"\b{word}\b", regex=True)]
            if len(hits):
                first = hits.iloc[0]
                return amount * first["grams"] / first["amount"]
        if unit in ML_PER:
            cup = table[table["unit"].str.lower().str.contains(r"\bcup\b", regex=True)]
            if len(cup):
                return amount * ML_PER[unit] / ML_PER["cup"] * cup.iloc[0]["grams"] / cup.iloc[0]["amount"]
        raise UnknownUnitError(f"{food!r} has no SR28 portion for {unit!r}; known: {table['unit'].tolist()[:8]}")

    def search(self, text: str, limit: int = 3) -> list[tuple[str, str]]:
        """SR28 foods whose description shares the most words with `text`: [(ndb, description)], best first.

        Raw and plain entries win ties, and shorter descriptions beat longer ones.
        """
        query = set(_TOKEN.findall(text.lower()))
        query |= {w.rstrip("s") for w in query}
        if not query:
            return []
        best = []
        for ndb, description in zip(self._foods["ndb"], self._foods["description"]):
            words = set(_TOKEN.findall(description.lower()))
            words |= {w.rstrip("s") for w in words}
            overlap = len(query & words)
            if overlap:
                bonus = 0.5 * bool(words & {"raw", "plain", "cooked"})
                best.append((overlap + bonus - len(description) / 1000, ndb, description))
        best.sort(reverse=True)
        return [(ndb, description) for _, ndb, description in best[:limit]]
