"""The meal planner's recipe catalogue: recipes as data (data/recipes/*.yaml), shop prices (prices.csv), and
each recipe's nutrients and cost per serving, computed from the USDA table and the prices, never typed in."""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from nutrition.allergens import TOP9, allergens_in
from nutrition.usda_table import ZERO, Nutrients, NutritionTable, UnknownFoodError

SLOTS = ("breakfast", "lunch", "dinner", "snack")
CUISINES = (
    "african",
    "american",
    "british",
    "caribbean",
    "chinese",
    "french",
    "greek",
    "indian",
    "international",
    "italian",
    "japanese",
    "korean",
    "latin_american",
    "mediterranean",
    "mexican",
    "middle_eastern",
    "spanish",
    "thai",
    "vietnamese",
)
MAX_SPICE = 3
# A serving outside this range is a typo in the grams (a 10x slip), not a recipe.
KCAL_PER_SERVING = (50.0, 1200.0)
DEFAULT_RECIPES = Path("data/recipes")  # relative to the repo root; the bot gets it from a setting
PRICES_FILE = "prices.csv"
PRICE_COLUMNS = ("item", "aisle", "pack_grams", "pack_label", "pack_price_usd")

_FIELDS = ("id", "name", "slots", "servings", "minutes", "cuisine", "spice", "tags", "allergens", "ingredients")
_OPTIONAL = frozenset({"tags"})
_INGREDIENT_FIELDS = ("ndb", "grams", "item")
_SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_NDB = re.compile(r"\d{5}")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where installed: ~10x faster


@dataclass(frozen=True)
class RecipeIngredient:
    ndb: str  # SR28 NDB number of the edible part as cooked/eaten
    grams: float  # for the whole recipe (all servings)
    item: str  # the shopping item: a key of the price table


@dataclass(frozen=True)
class Recipe:
    id: str  # stable forever: stored plans refer to it
    name: str
    slots: tuple[str, ...]
    servings: int  # the ingredient grams make this many servings
    minutes: int
    cuisine: str
    spice: int  # 0 none, 1 mild, 2 medium, 3 hot
    tags: frozenset[str]
    allergens: frozenset[str]  # declared, TOP9 names
    ingredients: tuple[RecipeIngredient, ...]


@dataclass(frozen=True)
class Price:
    item: str
    aisle: str
    pack_grams: float
    pack_label: str
    pack_price_usd: float


@dataclass(frozen=True)
class PricedRecipe:
    recipe: Recipe
    per_serving: Nutrients  # from USDA
    cost_per_serving_usd: float
    allergens: frozenset[str]  # declared ∪ found in the ingredients' USDA descriptions
    descriptions: tuple[str, ...]  # USDA descriptions of the ingredients (free-text allergy matching)


class CatalogueError(ValueError):
    """The recipe files or the price table are malformed; `problems` lists each (file, recipe id, what)."""

    def __init__(self, problems: Iterable[str]):
        self.problems = tuple(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the recipe catalogue:\n- " + "\n- ".join(self.problems))


def load_recipes(directory: Path | str) -> tuple[Recipe, ...]:
    """Every recipe of the `*.yaml` files in `directory`, schema-checked, ids unique across files.

    Raises:
        CatalogueError: listing every problem found in every file.
    """
    directory = Path(directory)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise CatalogueError([f"{directory}: no recipe files (*.yaml) found"])
    recipes: list[Recipe] = []
    problems: list[str] = []
    first_seen: dict[str, Path] = {}
    for path in files:
        for recipe in _read_file(path, problems):
            if recipe.id in first_seen:
                problems.append(f"{path}: recipe {recipe.id!r}: duplicate id (first in {first_seen[recipe.id]})")
            else:
                first_seen[recipe.id] = path
                recipes.append(recipe)
    if problems:
        raise CatalogueError(problems)
    return tuple(recipes)


def _read_file(path: Path, problems: list[str]) -> list[Recipe]:
    try:
        entries = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        problems.append(f"{path}: not valid YAML: {exc}")
        return []
    if not isinstance(entries, list):
        problems.append(f"{path}: expected a list of recipes, got {type(entries).__name__}")
        return []
    recipes = []
    for number, entry in enumerate(entries, 1):
        recipe, found = _parse_recipe(entry, path, number)
        problems.extend(found)
        if recipe is not None:
            recipes.append(recipe)
    return recipes


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _parse_recipe(entry: object, path: Path, number: int) -> tuple[Recipe | None, list[str]]:
    """The `number`th recipe of `path` from its YAML mapping, or None and what is wrong with it."""
    if not isinstance(entry, dict):
        return None, [f"{path}: recipe #{number}: expected a mapping of recipe fields, got {type(entry).__name__}"]
    where = f"{path}: recipe {entry['id']!r}" if isinstance(entry.get("id"), str) else f"{path}: recipe #{number}"
    problems = [f"{where}: unknown field {k!r} (expected {', '.join(_FIELDS)})" for k in entry if k not in _FIELDS]
    problems += [f"{where}: {k} missing" for k in _FIELDS if k not in entry and k not in _OPTIONAL]
    types = {
        "id": (lambda v: isinstance(v, str), "a lowercase slug like 'chicken-rice-broccoli'"),
        "name": (lambda v: isinstance(v, str) and v.strip(), "a non-empty text"),
        "slots": (_is_str_list, f"a list of {', '.join(SLOTS)}"),
        "servings": (_is_int, "a whole number"),
        "minutes": (_is_int, "a whole number"),
        "cuisine": (lambda v: isinstance(v, str), f"one of {', '.join(CUISINES)}"),
        "spice": (_is_int, f"a whole number 0-{MAX_SPICE}"),
        "tags": (_is_str_list, "a list of words"),
        "allergens": (_is_str_list, f"a list of {', '.join(TOP9)} (may be empty)"),
        "ingredients": (lambda v: isinstance(v, list), "a list of {ndb, grams, item}"),
    }
    for key, (ok, expected) in types.items():
        if key in entry and not ok(entry[key]):
            problems.append(f"{where}: {key} should be {expected}, got {entry[key]!r}")
    ingredients = []
    raw_ingredients = entry.get("ingredients") if isinstance(entry.get("ingredients"), list) else []
    for position, raw in enumerate(raw_ingredients, 1):
        ingredient, found = _parse_ingredient(raw, f"{where}: ingredient {position}")
        problems.extend(found)
        ingredients.append(ingredient)
    if problems:
        return None, problems
    recipe = Recipe(
        id=entry["id"],
        name=entry["name"].strip(),
        slots=tuple(entry["slots"]),
        servings=entry["servings"],
        minutes=entry["minutes"],
        cuisine=entry["cuisine"],
        spice=entry["spice"],
        tags=frozenset(t.strip().lower() for t in entry.get("tags", [])),
        allergens=frozenset(entry["allergens"]),
        ingredients=tuple(ingredients),
    )
    return recipe, [f"{where}: {p}" for p in _value_problems(recipe)]


def _parse_ingredient(raw: object, where: str) -> tuple[RecipeIngredient | None, list[str]]:
    if not isinstance(raw, dict):
        return None, [f"{where}: expected {{ndb, grams, item}}, got {raw!r}"]
    if isinstance(raw.get("item"), str):
        where = f"{where} ({raw['item']})"
    problems = [f"{where}: unknown field {k!r} (expected ndb, grams, item)" for k in raw if k not in _INGREDIENT_FIELDS]
    problems += [f"{where}: {k} missing" for k in _INGREDIENT_FIELDS if k not in raw]
    if "ndb" in raw and not (isinstance(raw["ndb"], str) and _NDB.fullmatch(raw["ndb"])):
        problems.append(f'{where}: ndb should be a quoted 5-digit SR28 number like "05064", got {raw["ndb"]!r}')
    if "grams" in raw and not _is_number(raw["grams"]):
        problems.append(f"{where}: grams should be a number, got {raw['grams']!r}")
    if "item" in raw and not (isinstance(raw["item"], str) and raw["item"].strip()):
        problems.append(f"{where}: item should be a shopping item of prices.csv, got {raw['item']!r}")
    if problems:
        return None, problems
    return RecipeIngredient(raw["ndb"], float(raw["grams"]), raw["item"].strip()), []


def _value_problems(recipe: Recipe) -> list[str]:
    """What is out of range in a well-typed recipe: slots, servings, minutes, cuisine, spice, allergens, grams."""
    problems = []
    if not recipe.slots or set(recipe.slots) - set(SLOTS):
        problems.append(f"slots should be some of {', '.join(SLOTS)}, got {list(recipe.slots)}")
    if not _SLUG.fullmatch(recipe.id):
        problems.append(f"id should be a lowercase slug like 'chicken-rice-broccoli', got {recipe.id!r}")
    if recipe.servings < 1 or recipe.minutes < 1:
        problems.append(f"servings and minutes should be at least 1, got {recipe.servings} and {recipe.minutes}")
    if recipe.cuisine not in CUISINES:
        problems.append(f"unknown cuisine {recipe.cuisine!r} (expected one of {', '.join(CUISINES)})")
    if not 0 <= recipe.spice <= MAX_SPICE:
        problems.append(f"spice should be 0-{MAX_SPICE}, got {recipe.spice}")
    if unknown := sorted(recipe.allergens - set(TOP9)):
        problems.append(f"unknown allergen(s) {unknown} (expected names of {', '.join(TOP9)})")
    if not recipe.ingredients:
        problems.append("ingredients missing: a recipe needs at least one")
    problems += [f"{i.item}: grams should be above 0, got {i.grams:g}" for i in recipe.ingredients if not i.grams > 0]
    return problems


def load_prices(path: Path | str) -> dict[str, Price]:
    """The price table: item → pack size and price. Lines starting with `#` are comments (source and date).

    Raises:
        CatalogueError: a missing column, a bad number, a duplicate item (every one, with its line).
    """
    path = Path(path)
    rows = [(n, line) for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]
    rows = [(n, line) for n, line in rows if not line.lstrip().startswith("#")]
    if not rows or tuple(next(csv.reader([rows[0][1]]))) != PRICE_COLUMNS:
        raise CatalogueError([f"{path}: the first row after the comments should be {','.join(PRICE_COLUMNS)}"])
    prices: dict[str, Price] = {}
    problems = []
    for number, line in rows[1:]:
        where = f"{path}:{number}"
        cells = [c.strip() for c in next(csv.reader([line]))]
        if len(cells) != len(PRICE_COLUMNS):
            problems.append(f"{where}: expected {len(PRICE_COLUMNS)} columns ({','.join(PRICE_COLUMNS)}), got {line!r}")
            continue
        item, aisle, grams, label, price = cells
        try:
            entry = Price(item, aisle, float(grams), label, float(price))
        except ValueError:
            problems.append(f"{where}: pack_grams and pack_price_usd should be numbers, got {grams!r}, {price!r}")
            continue
        if not (item and aisle and label and entry.pack_grams > 0 and entry.pack_price_usd > 0):
            problems.append(f"{where}: {item!r} needs an aisle, a pack label and pack grams and price above 0")
        elif item in prices:
            problems.append(f"{where}: duplicate item {item!r}")
        else:
            prices[item] = entry
    if problems:
        raise CatalogueError(problems)
    return prices


def price_recipes(recipes: Iterable[Recipe], table: NutritionTable, prices: dict[str, Price]) -> list[PricedRecipe]:
    """Each recipe's USDA nutrients and pro-rata cost per serving.

    Raises:
        CatalogueError: an ingredient the table or the price list lacks (`validate` lists them all).
    """
    priced = []
    for recipe in recipes:
        total, cost, descriptions = ZERO, 0.0, []
        for ingredient in recipe.ingredients:
            try:
                facts = table.facts(ingredient.ndb)
                price = prices[ingredient.item]
            except (UnknownFoodError, KeyError) as exc:
                raise CatalogueError([f"recipe {recipe.id!r}: {ingredient.item}: {exc} (run validate)"]) from exc
            total = total + facts.per_100g.scaled(ingredient.grams / 100)
            cost += ingredient.grams / price.pack_grams * price.pack_price_usd
            descriptions.append(facts.name)
        found = frozenset().union(*(allergens_in(d) for d in descriptions))
        per_serving = total.scaled(1 / recipe.servings)
        priced.append(
            PricedRecipe(recipe, per_serving, cost / recipe.servings, recipe.allergens | found, tuple(descriptions))
        )
    return priced


def validate(recipes: Iterable[Recipe], table: NutritionTable, prices: dict[str, Price]) -> list[str]:
    """Every problem of the catalogue, [] when clean: unknown NDB or price item, a bad field value, a serving
    whose kcal is implausible, and declared allergens that miss one the ingredients' USDA descriptions name
    (`nutrition.allergens.allergens_in`; only descriptions: "soy milk" as a shopping item is not milk)."""
    recipes = list(recipes)
    problems = [f"recipe {rid!r}: duplicate id" for rid, n in Counter(r.id for r in recipes).items() if n > 1]
    for recipe in recipes:
        where = f"recipe {recipe.id!r} ({recipe.cuisine})"
        problems += [f"{where}: {p}" for p in _value_problems(recipe)]
        sources: dict[str, frozenset[str]] = {}
        known = True
        for ingredient in recipe.ingredients:
            if ingredient.item not in prices:
                problems.append(f"{where}: unknown price item {ingredient.item!r} (add it to {PRICES_FILE})")
            try:
                description = table.facts(ingredient.ndb).name
            except UnknownFoodError:
                problems.append(f"{where}: {ingredient.item}: unknown NDB {ingredient.ndb!r} (not in SR28)")
                known = False
                continue
            sources[description] = allergens_in(description)
        for allergen in sorted(frozenset().union(*sources.values()) - recipe.allergens):
            named_by = [text for text, found in sources.items() if allergen in found]
            problems.append(f"{where}: allergen mismatch: {allergen!r} not declared, but named by {named_by}")
        low, high = KCAL_PER_SERVING
        if known and recipe.servings >= 1:
            kcal = _kcal_per_serving(recipe, table)
            if not low <= kcal <= high:
                problems.append(f"{where}: {kcal:.0f} kcal a serving is outside {low:.0f}-{high:.0f}: check grams")
    return problems


def _kcal_per_serving(recipe: Recipe, table: NutritionTable) -> float:
    return sum(table.facts(i.ndb).per_100g.kcal * i.grams / 100 for i in recipe.ingredients) / recipe.servings
