"""What `allergens_in` reads from USDA descriptions: broad where a miss could hurt, not where it only misleads."""

import pytest

from nutrition.allergens import allergens_in


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("Milk, whole, 3.25% milkfat", {"milk"}),
        ("Cream, fluid, heavy whipping", {"milk"}),
        ("Nuts, coconut milk, canned (liquid expressed from grated meat and water)", {"tree_nuts"}),
        ("Puddings, coconut cream, dry mix, instant, prepared with 2% milk", {"milk"}),
        ("Rice noodles, dry", set()),
        ("Noodles, chinese, cellophane or long rice (mung beans), dehydrated", set()),
        ("Chickpea flour (besan)", set()),
        ("Corn flour, masa, enriched, white", set()),
        ("Noodles, egg, cooked, enriched", {"egg", "wheat"}),
        ("Wheat flour, white, all-purpose, enriched, bleached", {"wheat"}),
        ("Pan Dulce, cookie-like, contains wheat flour and rice flour", {"wheat"}),
        ("Tortillas, ready-to-bake or -fry, flour", {"wheat"}),
        ("Peanut butter, smooth style, with salt", {"peanut"}),
    ],
)
def test_descriptions(description, expected):
    assert allergens_in(description) == frozenset(expected)
