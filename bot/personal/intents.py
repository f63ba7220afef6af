"""What a message says to the personalization wing: "what do you know about me", "forget my cuisines",
"swap quinoa for rice", "too spicy", "i only have 20 minutes to cook"; None for anything else.

Strict on purpose, as `bot.coach.commands` is: a typo is forgiven only in a phrase of three words or more, or in
a reset's field name after "reset"/"forget", never in a lone word, so "rice" stays a food answer.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

KNOWN_PHRASES = (
    "what do you know about me",
    "what do you know",
    "what have you learned",
    "what have you learnt",
    "what have you learned about me",
    "what have you learnt about me",
    "what did you learn about me",
    "what do you know of me",
    "what you know about me",
    "my preferences",
    "show my preferences",
    "what are my preferences",
)
# what people call each field that can be reset → its name in nutrition.personalization.RESETTABLE
FIELD_WORDS = {
    "cuisines": ("cuisine", "cuisines", "favourite cuisines", "favorite cuisines", "food styles"),
    "dislikes": ("dislike", "dislikes", "disliked foods", "foods i dislike"),
    "spice": ("spice", "spicy", "spice level", "spice tolerance", "spiciness", "heat"),
    "cooking_time": ("cooking time", "cook time", "cooking minutes", "time to cook", "cooking times"),
    "cooking_skill": ("cooking skill", "cooking skills", "skill", "skills", "skill level"),
    "budget": ("budget", "budget sensitivity"),
    "meal_times": ("meal times", "meal time", "mealtimes", "mealtime", "meal timing", "timing", "eating times"),
    "portions": ("portions", "portion", "portion sizes", "portion size", "usual portions", "serving sizes"),
    "all": ("preferences", "all preferences", "everything you learned", "everything you learnt", "all of it"),
}
_FIELD_BY_WORD = {word: field for field, words in FIELD_WORDS.items() for word in words}
_RESET = re.compile(
    r"^(?:please )?(?:reset|forget|clear|unlearn|wipe|erase)(?: about)?(?: my| the| what you know about my"
    r"| what you learned about my| what you learnt about my)? (?P<field>[a-z ]+?)(?: preferences?| please)?$"
)
_NAMES = r"[a-z][a-z ]{0,40}?"
_SUBSTITUTE = (
    re.compile(
        rf"^(?:can you |please |could you |i )?(?:swap|swapped|replace|replaced|switch|switched|substitute|"
        rf"substituted|sub|subbed)(?: the| my)? (?P<removed>{_NAMES}) (?:for|with|by)"
        rf"(?: some| the| a| an)? (?P<added>{_NAMES})(?: instead| please)?$"
    ),
    re.compile(
        rf"^(?:i )?(?:use|used|had|have|made it with|ll have|would rather have|prefer)(?: some| the)?"
        rf" (?P<added>{_NAMES}) instead of(?: the)? (?P<removed>{_NAMES})$"
    ),
)
_TOO_SPICY = re.compile(
    r"^(?:(?:that|it|this|the [a-z]+)(?: was| is|s)? )?(?:way |much |a bit |a little |bit |far |really )?too "
    r"(?:spicy|hot for me|much spice|much chili|much chilli|fiery)(?: for me)?$"
)
_MINUTES = re.compile(r"(?<![0-9])(?P<n>\d{1,3}) ?(?:minutes?|mins?|m\b)|half an hour|an hour|one hour")
_COOK_WORDS = re.compile(r"\b(?:cook|cooking|prep|prepping|make|making|kitchen|recipes?)\b")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SLOT_OR_DAY = _words(
    "breakfast lunch dinner snack supper tonight today tomorrow day monday tuesday wednesday thursday friday "
    "saturday sunday mon tue wed thu fri sat sun something another else one meal"
)
_NOT_FOOD = _SLOT_OR_DAY | _words("goal plan tier subscription card budget premium standard free it that this")


@dataclass(frozen=True)
class PersonalIntent:
    """`name`: known, reset, substitute, too_spicy, cooking_minutes."""

    name: str
    field: str | None = None  # reset: a RESETTABLE name, or "all"
    removed: str | None = None  # substitute
    added: str | None = None
    minutes: int | None = None


def _close(said: str, choices, cutoff: float = 0.8) -> str | None:
    """The choice `said` is a typo of; only among those starting with its letter (a food often looks like a
    command without it: "rice", "spice")."""
    if said in choices:
        return said
    same_letter = [c for c in choices if c[0] == said[0]]
    close = difflib.get_close_matches(said, same_letter, n=1, cutoff=cutoff)
    return close[0] if close else None


def normalise(text: str) -> str:
    """Lowercase words and digits only: "What do you know about me?" → "what do you know about me"."""
    text = text.lower().replace("’", "'").replace("'", "")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9]+", " ", text)).strip()


def parse(text: str) -> PersonalIntent | None:
    said = normalise(text)
    if not said or len(said.split()) > 14:
        return None
    for reader in (_known, _reset, _too_spicy, _cooking_minutes, _substitute):
        intent = reader(said)
        if intent is not None:
            return intent
    return None


def _known(said: str) -> PersonalIntent | None:
    if said in KNOWN_PHRASES or (len(said.split()) >= 3 and _close(said, KNOWN_PHRASES, 0.85)):
        return PersonalIntent("known")
    return None


def _reset(said: str) -> PersonalIntent | None:
    m = _RESET.match(said)
    if not m:
        return None
    word = m["field"].strip()
    found = _close(word, list(_FIELD_BY_WORD)) if len(word) >= 4 else _FIELD_BY_WORD.get(word) and word
    return PersonalIntent("reset", field=_FIELD_BY_WORD[found]) if found else None


def _too_spicy(said: str) -> PersonalIntent | None:
    return PersonalIntent("too_spicy") if _TOO_SPICY.match(said) else None


def _cooking_minutes(said: str) -> PersonalIntent | None:
    m = _MINUTES.search(said)
    if not m or not _COOK_WORDS.search(said):
        return None
    minutes = int(m["n"]) if m["n"] else (30 if m[0] == "half an hour" else 60)
    return PersonalIntent("cooking_minutes", minutes=minutes) if 5 <= minutes <= 240 else None


def _substitute(said: str) -> PersonalIntent | None:
    for pattern in _SUBSTITUTE:
        m = pattern.match(said)
        if not m:
            continue
        removed, added = m["removed"].strip(), m["added"].strip()
        if set(removed.split()) & _NOT_FOOD or set(added.split()) <= _NOT_FOOD:
            return None  # "swap tuesday dinner for something else": the plan's own swap
        return PersonalIntent("substitute", removed=removed, added=added)
    return None
