"""Curated next-meal options: everyday meals and snacks as SR28 ingredients and grams, with their allergens.

Nutrients are never written here: they come from the USDA table (`nutrition.rebalance`). `allergens` is the
curated truth (hummus holds sesame though SR28 never says so); the tests also check that it covers every
allergen the ingredients' USDA descriptions name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogueMeal:
    name: str
    kind: str  # "meal" or "snack"
    ingredients: tuple[tuple[str, float], ...]  # (SR28 NDB, grams of the edible part)
    allergens: frozenset[str]


def _meal(name: str, kind: str, allergens: str, *ingredients: tuple[str, float]) -> CatalogueMeal:
    return CatalogueMeal(name, kind, tuple(ingredients), frozenset(allergens.split()))


CATALOGUE: tuple[CatalogueMeal, ...] = (
    _meal(
        "Grilled chicken, rice and broccoli", "meal", "", ("05064", 150), ("20045", 180), ("11090", 100), ("04053", 5)
    ),
    _meal(
        "Salmon, baked potato and spinach", "meal", "fish", ("15237", 140), ("11357", 200), ("11457", 60), ("04053", 5)
    ),
    _meal(
        "Lentil and quinoa bowl with tomato and cucumber",
        "meal",
        "",
        ("16070", 150),
        ("20137", 150),
        ("11529", 100),
        ("11205", 80),
        ("04053", 10),
    ),
    _meal(
        "Tofu and broccoli stir-fry with brown rice",
        "meal",
        "soy",
        ("16427", 150),
        ("20041", 180),
        ("11090", 100),
        ("16124", 15),
        ("04053", 5),
    ),
    _meal(
        "Turkey sandwich on whole-wheat bread",
        "meal",
        "wheat",
        ("05220", 90),
        ("18075", 64),
        ("11251", 20),
        ("11529", 40),
    ),
    _meal(
        "Greek yogurt with blueberries and walnuts",
        "meal",
        "milk tree_nuts",
        ("01256", 170),
        ("09050", 75),
        ("12155", 15),
    ),
    _meal("Oatmeal with banana and peanut butter", "meal", "peanut", ("08121", 240), ("09040", 118), ("16098", 16)),
    _meal("Eggs on toast with avocado", "meal", "egg wheat", ("01123", 100), ("18070", 44), ("09037", 50)),
    _meal(
        "Pasta with beef and tomato sauce",
        "meal",
        "wheat",
        ("20121", 200),
        ("23572", 90),
        ("11529", 120),
        ("11282", 40),
    ),
    _meal(
        "Black bean and sweet potato corn tortillas",
        "meal",
        "",
        ("16015", 130),
        ("11507", 150),
        ("18363", 52),
        ("09037", 50),
    ),
    _meal(
        "Shrimp with rice and peas",
        "meal",
        "crustacean_shellfish",
        ("15270", 120),
        ("20045", 180),
        ("11313", 80),
        ("04053", 5),
    ),
    _meal(
        "Tuna and chickpea salad",
        "meal",
        "fish",
        ("15121", 100),
        ("16057", 120),
        ("11251", 60),
        ("11529", 80),
        ("04053", 10),
    ),
    _meal(
        "Steak with sweet potato and spinach", "meal", "", ("13364", 150), ("11507", 200), ("11457", 60), ("04053", 5)
    ),
    _meal(
        "Cheddar and spinach omelette", "meal", "egg milk", ("01123", 150), ("01009", 30), ("11457", 30), ("04053", 5)
    ),
    _meal(
        "Chicken and mozzarella salad",
        "meal",
        "milk",
        ("05064", 120),
        ("01026", 60),
        ("11529", 100),
        ("11251", 60),
        ("04053", 10),
    ),
    _meal("Chickpea, rice and spinach bowl", "meal", "", ("16057", 150), ("20045", 150), ("11457", 60), ("04053", 10)),
    _meal("Apple with almonds", "snack", "tree_nuts", ("09003", 160), ("12061", 20)),
    _meal("Banana", "snack", "", ("09040", 118)),
    _meal("Greek yogurt with honey", "snack", "milk", ("01256", 170), ("19296", 10)),
    _meal("Orange", "snack", "", ("09200", 131)),
    _meal("Carrot sticks with hummus", "snack", "sesame", ("11124", 120), ("16158", 60)),
    _meal("Pear", "snack", "", ("09252", 178)),
    _meal("Strawberries", "snack", "", ("09316", 150)),
)
