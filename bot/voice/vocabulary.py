"""What people say to the bot, as sentences for the offline recogniser's language model: meals built from the foods
typed meals know (`nutrition.food_names`, each an SR28 food), the units they weigh, spoken numbers, corrections and
our commands.

The recogniser then expects "two eggs and a slice of toast" far more than "to x and the slice of toast". Seeded,
so the model (and what it hears) is the same on every start.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

from bot.coach.commands import COMMANDS
from bot.voice.numbers import digits_to_words
from nutrition.food_names import FOODS

_LEADS = (
    "",
    "",
    "",
    "i had",
    "i ate",
    "i just had",
    "i just ate",
    "i drank",
    "for breakfast i had",
    "for lunch i had",
    "for dinner i had",
    "breakfast",
    "lunch",
    "dinner",
    "snack",
    "i've had",
)
_JOIN = ("and", "and", "and", "with", "plus")
_COUNTS = ("a", "a", "one", "two", "three", "four", "five", "six", "a couple of", "half a", "one and a half")
_SINGLE = ("a", "an", "one", "half a", "half an")
_SMALL_NUMBERS = (*range(1, 13), 15, 20, 25, 30, 40, 50)
_GRAMS = (*range(50, 501, 25), 30, 40, 60, 80, 120, 180, 600, 750, 1000)
_WEIGHTS = ("grams", "grams of", "ounces of")
_MEASURES = ("cup", "bowl", "tablespoon", "teaspoon", "handful")
_DRINK_UNITS = ("glass", "cup", "mug", "bottle", "can")
_PIECE_UNITS = ("slice", "piece")
_SIZES = ("small", "medium", "large", "big")
_CORRECTIONS = (
    "it was {grams} grams",
    "actually it was {grams} grams",
    "that was {grams} grams",
    "make it {grams} grams",
    "the {food} was {grams} grams",
    "that was a {food}",
    "it was {article} {food}",
    "no it was {article} {food}",
    "remove the {food}",
    "delete the {food}",
    "i didn't eat the {food}",
)
_OTHER_PHRASES = (
    "what do you know about me",
    "plan my week",
    "shopping list",
    "yes delete",
    "no",
    "yes",
    "hi",
    "hello",
    "stop",
    "help",
    "undo",
)


_PLURALS = {"potato": "potatoes", "tomato": "tomatoes", "mango": "mangoes", "peach": "peaches"}
# Pronunciations CMUdict lacks, in its phone set.
EXTRA_PRONUNCIATIONS = {
    "chickpea": "CH IH K P IY",
    "chickpeas": "CH IH K P IY Z",
    "wholemeal": "HH OW L M IY L",
    "yoghurt": "Y OW G ER T",
}


def _plural(food: str) -> str:
    head, _, last = food.rpartition(" ")
    if last in _PLURALS:
        plural = _PLURALS[last]
    elif last.endswith(("s", "sh", "ch")):
        plural = last if last.endswith("s") else last + "es"
    elif last.endswith("y") and last[-2] not in "aeiou":
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return f"{head} {plural}".strip()


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _spoken(number: int) -> str:
    return digits_to_words(number)


def food_words() -> list[str]:
    """The foods typed meals know by name."""
    return sorted(FOODS)


def command_phrases() -> list[str]:
    phrases = [p for c in COMMANDS for p in (*c.words, *c.phrases, *([c.shown] if c.shown else []))]
    return sorted({p for p in (*phrases, *_OTHER_PHRASES) if p.replace(" ", "").isalpha() and p != "unstop"})


def _counted(rng: random.Random, unit: str, food: str) -> str:
    """ "a glass of milk", "two glasses of milk", "half a cup of rice": the count agrees with what follows."""
    count = rng.choice(_COUNTS)
    if count == "a":
        count = _article(unit)
    unit = unit if count in _SINGLE or count.startswith("half") else _plural(unit)
    return f"{count} {unit} of {food}"


def _part(rng: random.Random, food: str) -> str:
    name = FOODS[food]
    roll = rng.random()
    if name.drink:
        if roll < 0.25:
            return f"{rng.choice((_article(food), 'one', 'two'))} {food if roll < 0.15 else _plural(food)}"
        if roll < 0.4:
            return f"{_spoken(rng.choice(_GRAMS))} milliliters of {food}"
        return _counted(rng, rng.choice(_DRINK_UNITS), food)
    if name.piece_g and roll < 0.55:
        if rng.random() < 0.25:
            return _counted(rng, rng.choice(_PIECE_UNITS), food)
        count = rng.choice((*_COUNTS, *map(_spoken, _SMALL_NUMBERS)))
        if count == "a":
            count = _article(food)
        if rng.random() < 0.15:
            size = rng.choice(_SIZES)
            count = f"{_article(size)} {size}" if count in _SINGLE else f"{count} {size}"
        return f"{count} {food if count.split()[0] in _SINGLE else _plural(food)}"
    if roll < 0.75:
        grams = _spoken(rng.choice(_GRAMS))
        if " hundred " in grams and rng.random() < 0.5:
            grams = grams.replace(" hundred ", " hundred and ")
        return f"{grams} {rng.choice(_WEIGHTS)} {food}".replace(
            "grams of", "grams of" if rng.random() < 0.8 else "grams"
        )
    return _counted(rng, rng.choice(_MEASURES), food)


def sentences(count: int = 8000, seed: int = 0) -> list[str]:
    """`count` meal sentences, every food at least a few times, then each correction and command."""
    rng = random.Random(seed)
    foods = food_words()
    out = []
    for i in range(count):
        parts = [_part(rng, foods[i % len(foods)])]
        for _ in range(rng.choice((0, 0, 1, 1, 1, 2))):
            parts.append(rng.choice(_JOIN) + " " + _part(rng, rng.choice(foods)))
        lead = rng.choice(_LEADS)
        out.append(" ".join(filter(None, [lead, *parts])))
    for template in _CORRECTIONS:
        for food in foods:
            grams = _spoken(rng.choice(_GRAMS))
            out.append(template.format(food=food, grams=grams, article=_article(food)))
    out += command_phrases() * 5
    return out


def vocabulary(lines: Iterable[str]) -> list[str]:
    return sorted({word for line in lines for word in line.split()})


def pronunciations(words: Iterable[str], dictionary: Path) -> tuple[list[str], list[str]]:
    """The lines of the pronouncing `dictionary` (CMUdict format, alternates as `word(2)`) for `words`, and the
    words it lacks."""
    wanted = set(words)
    lines, found = [f"{w} {p}" for w, p in EXTRA_PRONUNCIATIONS.items() if w in wanted], set(EXTRA_PRONUNCIATIONS)
    with dictionary.open(encoding="utf-8") as source:
        for line in source:
            head = line.split(" ", 1)[0]
            word = head.split("(", 1)[0]
            if word in wanted:
                lines.append(line.rstrip("\n"))
                found.add(word)
    return lines, sorted(wanted - found)


def _alternatives(items: Iterable[str]) -> str:
    return " | ".join(sorted(set(items)))


def grammar() -> str:
    """The same language as a JSGF grammar, stricter than the n-gram model: nothing outside it is ever heard, and
    counts agree with what they count ("a cup of" and "a couple of cups" never compete)."""
    from bot.voice.numbers import TENS, UNITS

    foods = food_words()
    countable = [f for f in foods if FOODS[f].piece_g or f.endswith(("bean", "pea", "lentil", "almond"))]
    measures = (*_MEASURES, *_DRINK_UNITS, *_PIECE_UNITS)
    rules = {
        "say": "<meal> | <correction> | <command>",
        "meal": "[<lead>] <part> (<join> <part>)*",
        "lead": _alternatives(lead for lead in _LEADS if lead),
        "join": _alternatives(_JOIN),
        "part": "<single> | <several> | <half> | <weight>",
        "single": "[a | an | one] [<size>] <food> | (a | an | one) <measure> of <anyfood>",
        "several": "<many> [<size>] <foods> | <many> <measures> of <anyfood>",
        "half": "(half a | half an) (<measure> of <anyfood> | <food>) | one and a half (<measures> of <anyfood> | <foods>)",
        "weight": "<number> (grams | ounces | milliliters) [of] <anyfood>",
        "size": _alternatives(_SIZES),
        "measure": _alternatives(measures),
        "measures": _alternatives(_plural(m) for m in measures),
        "food": _alternatives(foods),
        "foods": _alternatives(_plural(f) for f in countable),
        "anyfood": "<food> | <foods>",
        "digit": _alternatives(u for u in UNITS if 0 < UNITS[u] < 10),
        "digits": _alternatives(u for u in UNITS if 1 < UNITS[u] < 10),
        "teens": _alternatives(u for u in UNITS if UNITS[u] >= 10),
        "tens": _alternatives(TENS),
        "below100": "<digit> | <teens> | <tens> [<digit>]",
        "hundreds": "[a | <digit>] hundred [[and] <below100>]",
        "number": "<below100> | <hundreds>",
        "many": "<digits> | <teens> | <tens> [<digit>] | <hundreds> | a couple of",
        "correction": (
            "[no | actually] (it | that) (was | is) (<number> grams | (a | an) <food>)"
            " | make it <number> grams | the <food> was <number> grams"
            " | (remove | delete) the <food> | i didn't eat the <food>"
        ),
        "command": _alternatives(command_phrases()),
    }
    body = "\n".join(f"{'public ' if name == 'say' else ''}<{name}> = {rule};" for name, rule in rules.items())
    return f"#JSGF V1.0;\ngrammar plate;\n{body}\n"
