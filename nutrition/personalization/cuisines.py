"""Which cuisine a logged meal is evidence of, from its foods: a small hand-made list of signature foods per cuisine
of the recipe catalogue (data/recipes). A planned meal's own cuisine tag is better evidence and is used instead
when a logged meal is one of the plan (`bot.personal.logged`).

Only foods that say little else are listed: "rice" or "chicken" are eaten everywhere and would only add noise, so
they are not; a meal gives evidence only when one cuisine has more signature foods in it than any other."""

from __future__ import annotations

from collections.abc import Iterable

from nutrition.allergens import mentions

# cuisine (as the recipes spell it) → words naming its signature foods, matched as `mentions` matches ("tortilla"
# names "Tortillas, ready-to-bake, corn"); multi-word entries must all appear.
SIGNATURE_FOODS: dict[str, tuple[str, ...]] = {
    "mexican": ("tortilla", "burrito", "taco", "quesadilla", "enchilada", "salsa", "guacamole", "refried", "nacho"),
    "italian": ("pasta", "spaghetti", "lasagna", "risotto", "pizza", "parmesan", "mozzarella", "pesto", "gnocchi"),
    "indian": ("curry", "naan", "paneer", "dal", "chapati", "masala", "biryani", "tikka", "samosa", "ghee"),
    "japanese": ("sushi", "miso", "ramen", "udon", "soba", "teriyaki", "edamame", "tempura", "nori", "wasabi"),
    "chinese": ("bok choy", "hoisin", "dumpling", "chow mein", "lo mein", "wonton", "fried rice", "oyster sauce"),
    "korean": ("kimchi", "gochujang", "bibimbap", "bulgogi", "japchae"),
    "thai": ("thai", "pad thai", "fish sauce", "coconut milk", "lemongrass", "satay", "green curry", "red curry"),
    "middle_eastern": ("hummus", "falafel", "pita", "tahini", "shawarma", "tabbouleh", "za atar", "bulgur"),
    "mediterranean": ("feta", "tzatziki", "kalamata", "gyro", "halloumi", "couscous", "moussaka"),
    "american": ("hamburger", "burger", "hot dog", "bagel", "pancake", "waffle", "mac and cheese", "barbecue"),
}


def cuisine_of_foods(foods: Iterable[str]) -> str | None:
    """The cuisine `foods` (names or descriptions of what was eaten) are evidence of, or None: no signature food, or
    two cuisines tied ("feta and pita": mediterranean 1, middle eastern 1 → None)."""
    texts = [f for f in foods if f and f.strip()]
    hits = {
        cuisine: sum(any(mentions(text, word) for text in texts) for word in words)
        for cuisine, words in SIGNATURE_FOODS.items()
    }
    best = max(hits.values(), default=0)
    winners = [c for c, n in hits.items() if n == best]
    return winners[0] if best > 0 and len(winners) == 1 else None
