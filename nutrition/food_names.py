"""Everyday food names → SR28 foods, curated: what people type ("toast", "oatmeal") is rarely how SR28 words it.

`piece_g` is one whole item where SR28 has no portion our units find (an avocado, a chicken breast); `drink`
foods are logged in mL. NDB numbers are SR28's; `tests/test_nutrition_text.py` checks every one against the
real table when it is built.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FoodName:
    ndb: str
    display: str
    piece_g: float | None = None
    drink: bool = False


def _f(ndb: str, display: str, piece_g: float | None = None, drink: bool = False) -> FoodName:
    return FoodName(ndb, display, piece_g, drink)


FOODS: dict[str, FoodName] = {
    "egg": _f("01123", "Egg", 50),
    "boiled egg": _f("01123", "Egg", 50),
    "fried egg": _f("01128", "Fried egg", 46),
    "toast": _f("18070", "Toast", 22),
    "bread": _f("18069", "White bread", 25),
    "white bread": _f("18069", "White bread", 25),
    "whole wheat bread": _f("18075", "Whole-wheat bread", 32),
    "wholemeal bread": _f("18075", "Whole-wheat bread", 32),
    "brown bread": _f("18075", "Whole-wheat bread", 32),
    "chicken breast": _f("05064", "Chicken breast", 172),
    "chicken": _f("05064", "Chicken breast", 172),
    "grilled chicken": _f("05064", "Chicken breast", 172),
    "turkey": _f("05220", "Turkey breast"),
    "rice": _f("20045", "White rice"),
    "white rice": _f("20045", "White rice"),
    "brown rice": _f("20041", "Brown rice"),
    "avocado": _f("09037", "Avocado", 201),
    "pear": _f("09252", "Pear", 178),
    "banana": _f("09040", "Banana", 118),
    "apple": _f("09003", "Apple", 182),
    "orange": _f("09200", "Orange", 131),
    "grape": _f("09132", "Grapes", 5),
    "mango": _f("09176", "Mango", 336),
    "kiwi": _f("09148", "Kiwi", 69),
    "lemon": _f("09150", "Lemon", 58),
    "blueberry": _f("09050", "Blueberries", 1),
    "strawberry": _f("09316", "Strawberries", 12),
    "oatmeal": _f("08121", "Oatmeal"),
    "porridge": _f("08121", "Oatmeal"),
    "oats": _f("08120", "Oats, dry"),
    "broccoli": _f("11090", "Broccoli"),
    "carrot": _f("11124", "Carrot", 61),
    "sweet potato": _f("11507", "Sweet potato", 130),
    "potato": _f("11357", "Baked potato", 173),
    "baked potato": _f("11357", "Baked potato", 173),
    "tomato": _f("11529", "Tomato", 123),
    "lettuce": _f("11251", "Lettuce"),
    "salad": _f("11251", "Lettuce"),
    "onion": _f("11282", "Onion", 110),
    "spinach": _f("11457", "Spinach"),
    "cucumber": _f("11205", "Cucumber", 301),
    "peas": _f("11313", "Peas"),
    "pea": _f("11313", "Peas"),
    "salmon": _f("15237", "Salmon"),
    "tuna": _f("15121", "Tuna, canned"),
    "shrimp": _f("15270", "Shrimp"),
    "prawn": _f("15270", "Shrimp"),
    "beef": _f("13364", "Beef"),
    "steak": _f("13364", "Beef steak"),
    "ground beef": _f("23572", "Ground beef"),
    "tofu": _f("16427", "Tofu"),
    "chickpea": _f("16057", "Chickpeas"),
    "black bean": _f("16015", "Black beans"),
    "lentil": _f("16070", "Lentils"),
    "hummus": _f("16158", "Hummus"),
    "almond": _f("12061", "Almonds", 1.2),
    "walnut": _f("12155", "Walnuts", 4),
    "peanut butter": _f("16098", "Peanut butter"),
    "pasta": _f("20121", "Pasta"),
    "spaghetti": _f("20121", "Pasta"),
    "quinoa": _f("20137", "Quinoa"),
    "tortilla": _f("18363", "Corn tortilla", 26),
    "yogurt": _f("01118", "Yogurt"),
    "yoghurt": _f("01118", "Yogurt"),
    "greek yogurt": _f("01256", "Greek yogurt"),
    "cheese": _f("01009", "Cheddar"),
    "cheddar": _f("01009", "Cheddar"),
    "mozzarella": _f("01026", "Mozzarella"),
    "olive oil": _f("04053", "Olive oil"),
    "honey": _f("19296", "Honey"),
    "milk": _f("01077", "Milk", drink=True),
    "coffee": _f("14209", "Coffee", drink=True),
    "tea": _f("14355", "Tea", drink=True),
    "orange juice": _f("09206", "Orange juice", drink=True),
    "juice": _f("09206", "Orange juice", drink=True),
    "cola": _f("14400", "Cola", drink=True),
    "coke": _f("14400", "Cola", drink=True),
    "soda": _f("14400", "Cola", drink=True),
    "beer": _f("14003", "Beer", drink=True),
    "water": _f("14429", "Water", drink=True),
}
