"""data/foods.yaml's `imagenet:` section resolved against the nutrition table: NDB, household portion, grams."""

from __future__ import annotations

from pathlib import Path

import yaml

from nutrition.usda_table import NutritionTable, UnknownFoodError
from training.inference.naming import ImagenetFood

IMAGENET_CLASSES = 1000


class FoodMapError(ValueError):
    """An `imagenet:` entry of foods.yaml is malformed or does not resolve in SR28."""


def read_food_map(path: Path) -> tuple[dict, dict]:
    """The `foods:` and `imagenet:` sections of foods.yaml."""
    spec = yaml.safe_load(Path(path).read_text()) or {}
    foods, imagenet = spec.get("foods") or {}, spec.get("imagenet") or {}
    if not isinstance(imagenet, dict) or not isinstance(foods, dict):
        raise FoodMapError(f"{path}: `foods:` and `imagenet:` must be mappings")
    return foods, imagenet


def ecustfd_names(foods: dict) -> dict[str, dict]:
    """{ECUSTFD type: {"display", "ndb"}} from the `foods:` section (ndb None where SR28 has no such food)."""
    return {key: {"display": str(entry.get("display", key)), "ndb": entry.get("ndb")} for key, entry in foods.items()}


def resolve_imagenet_foods(path: Path, table: NutritionTable) -> list[ImagenetFood]:
    """Every `imagenet:` entry of foods.yaml with its SR28 portion's grams, in head-index order.

    Raises:
        FoodMapError: an entry lacks a field, repeats a class, names an NDB SR28 lacks, a portion that NDB has
            not, or claims to be an ECUSTFD food that the `foods:` section does not list.
    """
    foods, imagenet = read_food_map(path)
    out, seen = [], set()
    for key, entry in imagenet.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("index"), int):
            raise FoodMapError(f"{path}: imagenet entry {key!r} needs an integer `index`")
        index = entry["index"]
        if not 0 <= index < IMAGENET_CLASSES or index in seen:
            raise FoodMapError(f"{path}: imagenet entry {key!r} has index {index}, out of range or repeated")
        seen.add(index)
        if entry.get("ecustfd"):
            if key not in foods:
                raise FoodMapError(f"{path}: imagenet entry {key!r} is marked ecustfd but is not one of the foods")
            display = str(foods[key].get("display", key))
            out.append(ImagenetFood(key, index, display, foods[key].get("ndb"), ecustfd=True))
            continue
        ndb, unit = str(entry.get("ndb", "")), entry.get("portion")
        try:
            portions = table.portions(ndb)
        except UnknownFoodError as exc:
            raise FoodMapError(f"{path}: imagenet entry {key!r}: {exc}") from None
        rows = portions[portions["unit"] == unit]
        if not len(rows):
            raise FoodMapError(
                f"{path}: imagenet entry {key!r}: NDB {ndb} has no portion {unit!r}; it has {portions['unit'].tolist()}"
            )
        row = rows.iloc[0]
        words = f"{row['amount']:g} {unit}"
        out.append(ImagenetFood(key, index, str(entry.get("display", key)), ndb, float(row["grams"]), words))
    return sorted(out, key=lambda f: f.index)
