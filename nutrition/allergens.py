"""Food allergens: the US top 9 (FALCPA + FASTER Act), read from free text and found in food descriptions.

"no nuts or shellfish" → {tree_nuts, peanut, crustacean_shellfish}; what is not one of the nine is kept as
free text ("kiwi") and matched against food names word by word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOP9 = ("milk", "egg", "fish", "crustacean_shellfish", "tree_nuts", "peanut", "wheat", "soy", "sesame")
LABELS = {
    "milk": "milk",
    "egg": "egg",
    "fish": "fish",
    "crustacean_shellfish": "crustacean shellfish",
    "tree_nuts": "tree nuts",
    "peanut": "peanut",
    "wheat": "wheat",
    "soy": "soy",
    "sesame": "sesame",
}

# Words people use → the allergens they mean. "nuts" alone names both tree nuts and peanuts: people say it
# for either, and a wrong guess here is a reaction, so we keep both out.
_WORDS: dict[str, tuple[str, ...]] = {
    "milk": ("milk",),
    "dairy": ("milk",),
    "lactose": ("milk",),
    "cheese": ("milk",),
    "butter": ("milk",),
    "cream": ("milk",),
    "yogurt": ("milk",),
    "yoghurt": ("milk",),
    "whey": ("milk",),
    "casein": ("milk",),
    "egg": ("egg",),
    "eggs": ("egg",),
    "fish": ("fish",),
    "salmon": ("fish",),
    "tuna": ("fish",),
    "cod": ("fish",),
    "anchovy": ("fish",),
    "anchovies": ("fish",),
    "sardine": ("fish",),
    "sardines": ("fish",),
    "tilapia": ("fish",),
    "shellfish": ("crustacean_shellfish",),
    "crustacean": ("crustacean_shellfish",),
    "crustaceans": ("crustacean_shellfish",),
    "shrimp": ("crustacean_shellfish",),
    "shrimps": ("crustacean_shellfish",),
    "prawn": ("crustacean_shellfish",),
    "prawns": ("crustacean_shellfish",),
    "crab": ("crustacean_shellfish",),
    "lobster": ("crustacean_shellfish",),
    "crayfish": ("crustacean_shellfish",),
    "nut": ("tree_nuts", "peanut"),
    "nuts": ("tree_nuts", "peanut"),
    "treenut": ("tree_nuts",),
    "treenuts": ("tree_nuts",),
    "almond": ("tree_nuts",),
    "almonds": ("tree_nuts",),
    "walnut": ("tree_nuts",),
    "walnuts": ("tree_nuts",),
    "cashew": ("tree_nuts",),
    "cashews": ("tree_nuts",),
    "pecan": ("tree_nuts",),
    "pecans": ("tree_nuts",),
    "pistachio": ("tree_nuts",),
    "pistachios": ("tree_nuts",),
    "hazelnut": ("tree_nuts",),
    "hazelnuts": ("tree_nuts",),
    "macadamia": ("tree_nuts",),
    "peanut": ("peanut",),
    "peanuts": ("peanut",),
    "groundnut": ("peanut",),
    "groundnuts": ("peanut",),
    "wheat": ("wheat",),
    "gluten": ("wheat",),
    "celiac": ("wheat",),
    "coeliac": ("wheat",),
    "soy": ("soy",),
    "soya": ("soy",),
    "soybean": ("soy",),
    "soybeans": ("soy",),
    "tofu": ("soy",),
    "sesame": ("sesame",),
    "tahini": ("sesame",),
}
_PHRASES = {"tree nut": ("tree_nuts",), "tree nuts": ("tree_nuts",)}
_NONE = re.compile(
    r"^\s*(no|none|nope|nothing|nah|n/a|na|no allerg\w*|not allergic\w*.*|i have none|none at all)\s*[.!]*\s*$"
)
_FILLER = frozenset(
    [
        "no",
        "not",
        "i",
        "im",
        "i'm",
        "am",
        "allergic",
        "allergy",
        "allergies",
        "to",
        "and",
        "or",
        "a",
        "an",
        "the",
        "of",
        "any",
        "some",
        "also",
        "but",
        "have",
        "has",
        "with",
        "can't",
        "cant",
        "cannot",
        "eat",
        "dont",
        "don't",
        "intolerant",
        "intolerance",
        "free",
        "my",
        "me",
        "is",
        "are",
    ]
)

# Where each allergen shows up in USDA descriptions (SR28 names the food first: "Cheese, cheddar").
_IN_DESCRIPTIONS = {
    # coconut milk and cream are not milk (coconut stays a tree nut, as "Nuts, coconut ..." says)
    "milk": r"\b((?<!coconut )milk|cheese|(?<!peanut )(?<!nut )(?<!sesame )butter|(?<!coconut )cream|yogurt|whey|casein|dairy)\b",
    "egg": r"\beggs?\b",
    "fish": r"\b(fish|salmon|tuna|cod|anchov|sardine|tilapia|trout|halibut|mackerel)",
    "crustacean_shellfish": r"\b(crustacean|shrimp|prawn|crab|lobster|crayfish)",
    "tree_nuts": r"\b(nuts?,|almond|walnut|cashew|pecan|pistachio|hazelnut|macadamia)",
    "peanut": r"\bpeanut",
    # flours and noodles made of something else are not wheat: rice, corn, potato, chickpea, soy; mung-bean cellophane
    "wheat": r"\b(wheat|bread|pasta|(?<!rice )(?<!corn )(?<!potato )(?<!chickpea )(?<!soy )(?<!acorn )flour|couscous"
    r"|bulgur|spaghetti|macaroni|(?<!rice )noodles(?!, chinese, cellophane)|tortillas?, .*flour)",
    "soy": r"\b(soy|tofu|edamame|miso|tempeh)",
    "sesame": r"\b(sesame|tahini)",
}


@dataclass(frozen=True)
class Allergies:
    """What a person must not eat: some of TOP9, plus free-text items we match by name."""

    top9: frozenset[str] = frozenset()
    other: tuple[str, ...] = ()
    none: bool = False  # they told us they have none (different from not having asked)

    def describe(self) -> str:
        names = [LABELS[a] for a in TOP9 if a in self.top9] + list(self.other)
        return ", ".join(names) if names else "none"

    def merged(self, more: Allergies) -> Allergies:
        other = tuple(dict.fromkeys(self.other + more.other))
        return Allergies(self.top9 | more.top9, other, none=not (self.top9 | more.top9 | set(other)))


@dataclass
class _Reading:
    top9: set[str] = field(default_factory=set)
    other: list[str] = field(default_factory=list)


def parse_allergies(text: str) -> Allergies:
    """Read an answer to "any food allergies?": 'no nuts or shellfish', 'dairy, eggs', 'none', 'kiwi'."""
    lowered = text.lower().replace("’", "'")
    if _NONE.match(lowered):
        return Allergies(none=True)
    reading = _Reading()
    for phrase, allergens in _PHRASES.items():
        if phrase in lowered:
            reading.top9.update(allergens)
            lowered = lowered.replace(phrase, " ")
    for chunk in re.split(r",|;|/|\band\b|\bor\b|\bnor\b|&|\+", lowered):
        words = [w for w in re.findall(r"[a-z']+", chunk) if w not in _FILLER]
        unknown = []
        for word in words:
            if word in _WORDS:
                reading.top9.update(_WORDS[word])
            else:
                unknown.append(word)
        if unknown and len(unknown) == len(words):  # a chunk naming nothing we know: keep it as said
            reading.other.append(" ".join(unknown))
    return Allergies(frozenset(reading.top9), tuple(dict.fromkeys(reading.other)), none=False)


def allergens_in(description: str) -> frozenset[str]:
    """The top-9 allergens a USDA food description names ('Cheese, cheddar' → {milk})."""
    lowered = description.lower()
    # Over-matching only hides a suggestion; under-matching could hurt someone, so the patterns are broad.
    return frozenset(a for a, pattern in _IN_DESCRIPTIONS.items() if re.search(pattern, lowered))


def mentions(text: str, item: str) -> bool:
    """Whether `text` names a free-text allergy `item` ('kiwi' in 'Kiwifruit, green, raw')."""
    words = re.findall(r"[a-z]+", text.lower())
    wanted = [w.rstrip("s") for w in re.findall(r"[a-z]+", item.lower())]
    return bool(wanted) and all(any(w.startswith(x) for w in words) for x in wanted)
