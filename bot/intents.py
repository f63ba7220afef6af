"""What a text message asks for: a command (tolerant of case, punctuation and typos) with its argument, or None.

Meals, corrections and answers to our questions are read by `bot.conversation`, after the commands.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

PHRASES = {
    "help": ("help", "menu", "?", "commands", "what can you do", "how does this work"),
    "today": ("today", "total", "totals", "todays total", "how am i doing", "how am i doing today", "summary"),
    "undo": ("undo", "undo last meal", "undo that"),
    "targets": ("targets", "target", "my targets", "my target", "my calories", "calorie target", "daily target"),
    "profile": ("profile", "my profile", "my info", "about me", "what do you know about me"),
    "export": ("export my data", "export", "export data", "download my data", "send me my data", "my data"),
    "delete": ("delete my data", "delete my account", "delete everything", "forget me", "delete data",
               "erase my data", "remove my data", "delete me"),
}  # fmt: skip
_BY_PHRASE = {phrase: name for name, phrases in PHRASES.items() for phrase in phrases}
_GOAL = re.compile(r"^(?:my\s+)?(?P<word>[a-z]+)\s*(?:is|:|=)?\s+(?P<arg>.+)$")
_ALLERGY = re.compile(
    r"^(?:i'?m\s+|i\s+am\s+|im\s+)?(?:also\s+)?(?P<word>[a-z]+)(?:\s+(?:to|of))?\s*:?\s+(?P<arg>.+)$"
)


@dataclass(frozen=True)
class Intent:
    name: str
    arg: str = ""


def normalise(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9?' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip().replace("'", "")


def _close(word: str, target: str, cutoff: float = 0.75) -> bool:
    return word == target or difflib.SequenceMatcher(None, word, target).ratio() >= cutoff


def classify(text: str) -> Intent | None:
    """'Tody' → today, 'EXPORT MY DATA!' → export, 'goal: loose weight' → goal('loose weight')."""
    raw = text.strip().lower().replace("’", "'")
    plain = normalise(text)
    if not plain:
        return None
    if plain in _BY_PHRASE:
        return Intent(_BY_PHRASE[plain])
    if m := _GOAL.match(raw.rstrip(".!")):
        if _close(m["word"], "goal", 0.74):
            return Intent("goal", m["arg"].strip())
    if m := _ALLERGY.match(raw.rstrip(".!")):
        if any(_close(m["word"], w, 0.8) for w in ("allergic", "allergy", "allergies")):
            return Intent("allergy", m["arg"].strip())
    if len(plain.split()) <= 4 and len(plain) >= 4:
        close = difflib.get_close_matches(plain, _BY_PHRASE, n=1, cutoff=0.8)
        if close:
            return Intent(_BY_PHRASE[close[0]])
    return None
