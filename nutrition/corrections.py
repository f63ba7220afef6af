"""Corrections of the last meal, from text: "that was a pear", "it was 150 g", "remove the bread".

Only reads the words; applying them (which item, new nutrients, the labelled example) is the caller's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nutrition.units import GRAMS_PER, ML_PER, UnitError, canonical_unit

RELABEL, REGRAM, REMOVE = "relabel", "grams", "remove"

_QTY = r"(?P<amount>\d+(?:[.,]\d+)?)\s*(?P<unit>g|grams?|gr|kg|kilos?|oz|ounces?|lbs?|pounds?|ml)\b"
_SUBJECT = r"(?:no,?\s*|actually,?\s*|oops,?\s*|sorry,?\s*)?(?:it|that|this|those|these|the (?P<target>[a-z ]+?)|(?P<target2>[a-z]+))"
_VERB = r"\s*(?:'s|was|were|is|are|weighed|weighs)\s+(?:actually\s+|really\s+|only\s+|about\s+|around\s+|more like\s+|like\s+|just\s+)*"
_PATTERNS = (
    (
        REMOVE,
        re.compile(
            r"^(?:please\s+)?(?:remove|delete|drop|take out|take off|scratch|forget)\s+(?:the\s+|my\s+|that\s+)?(?P<food>[a-z][a-z ]*?)(?:\s+please)?$"
        ),
    ),
    (REMOVE, re.compile(r"^(?:i\s+)?(?:didn'?t|did not)\s+(?:eat|have)\s+(?:the\s+|any\s+)?(?P<food>[a-z][a-z ]*?)$")),
    (REGRAM, re.compile(rf"^{_SUBJECT}{_VERB}{_QTY}$")),
    (
        REGRAM,
        re.compile(
            rf"^(?:no,?\s*|actually,?\s*)?(?:make it|more like|only|just|it was only)\s+{_QTY}(?:\s+of\s+(?P<target>[a-z ]+))?$"
        ),
    ),
    (
        RELABEL,
        re.compile(
            r"^(?:no,?\s*)?(?:it|that|this)\s*(?:'s|was|is)\s+not\s+(?:an?\s+)?(?P<target>[a-z ]+?),?\s+(?:it'?s\s+|it\s+was\s+|but\s+)?(?:an?\s+|some\s+)?(?P<food>[a-z][a-z ]*)$"
        ),
    ),
    (
        RELABEL,
        re.compile(
            r"^(?:no,?\s*|not\s+(?:an?\s+)?(?P<target>[a-z ]+?),\s*)?(?:it|that|this)\s*(?:'s|was|is|were)\s+(?:actually\s+|really\s+)?(?:an?\s+|some\s+)?(?P<food>[a-z][a-z ]*)$"
        ),
    ),
    (
        RELABEL,
        re.compile(
            r"^(?:no,?\s*)?not\s+(?:an?\s+)?(?P<target>[a-z ]+?),\s*(?:but\s+)?(?:an?\s+|some\s+)(?P<food>[a-z][a-z ]*)$"
        ),
    ),
    (
        RELABEL,
        re.compile(
            r"^(?:no,?\s*)?the\s+(?P<target>[a-z ]+?)\s+(?:was|is)\s+(?:actually\s+|really\s+)?(?:an?\s+|some\s+)(?P<food>[a-z][a-z ]*)$"
        ),
    ),
)


@dataclass(frozen=True)
class Correction:
    kind: str  # relabel, grams, remove
    target: str | None = None  # which item ("the bread"); None: the person did not say
    food: str | None = None  # relabel: the right food
    grams: float | None = None  # grams: the right weight


def parse_correction(text: str) -> Correction | None:
    """The correction `text` states, or None when it is not one."""
    t = re.sub(r"\s+", " ", text.strip().lower().replace("’", "'")).rstrip(".!")
    for kind, pattern in _PATTERNS:
        m = pattern.match(t)
        if m is None:
            continue
        groups = m.groupdict()
        target = groups.get("target") or groups.get("target2")
        if kind == REGRAM:
            if target in ("it", "that", "this"):
                target = None
            try:
                unit = canonical_unit(m["unit"])
            except UnitError:
                continue
            amount = float(m["amount"].replace(",", "."))
            grams = amount * (GRAMS_PER.get(unit) or ML_PER.get(unit, 1.0))
            return Correction(REGRAM, target, None, grams)
        food = groups.get("food")
        if (
            kind == RELABEL
            and food
            and re.fullmatch(
                r"(good|great|fine|ok|okay|right|correct|delicious|all|it|wrong|lunch|dinner|breakfast)", food
            )
        ):
            return None  # "that was good" is not a food
        return Correction(kind, target, food, None)
    return None
