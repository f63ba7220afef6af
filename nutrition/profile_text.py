"""Profile facts from free text: "I'm 34, 172 cm, 80 kg", "female, 5'6\\", 140 lbs", "lose weight", "desk job".

Each reader returns only what it found, so answers can come one at a time and in any order.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from nutrition.targets import Activity, Goal, Sex

_GOALS = {
    Goal.LOSE_WEIGHT: (
        "lose weight",
        "weight loss",
        "lose",
        "slim down",
        "lose fat",
        "cut",
        "get lean",
        "diet",
        "lighter",
    ),
    Goal.SAVE_MONEY: ("save money", "cheap", "budget", "money", "spend less", "cheaper", "frugal"),
    Goal.EAT_BETTER: (
        "eat better",
        "eat healthier",
        "healthier",
        "healthy",
        "better",
        "eat well",
        "nutrition",
        "eat clean",
    ),
    Goal.MAINTAIN: ("maintain", "stay the same", "keep my weight", "maintenance", "keep weight", "stay"),
}
_GOAL_WORDS = {phrase: goal for goal, phrases in _GOALS.items() for phrase in phrases}
GOAL_LABELS = {
    Goal.LOSE_WEIGHT: "lose weight",
    Goal.SAVE_MONEY: "save money",
    Goal.EAT_BETTER: "eat better",
    Goal.MAINTAIN: "maintain your weight",
}
_ACTIVITY = (
    (Activity.VERY_ACTIVE, r"very active|extremely active|athlete|twice a day|physical job|train(?:ing)? daily"),
    (Activity.SEDENTARY, r"sedentary|desk job|office job|sit(?:ting)? all day|no exercise|don'?t exercise|inactive"),
    (Activity.ACTIVE, r"\bactive\b|6-7 (?:days|times)|every day|daily exercise|exercise daily"),
    (Activity.MODERATE, r"moderate(?:ly)?|3-5 (?:days|times)|[345] (?:days|times) a week|gym|run(?:ning)?\b"),
    (Activity.LIGHT, r"\blight(?:ly)?\b|1-3 (?:days|times)|[123] (?:days|times) a week|walk"),
)


@dataclass(frozen=True)
class BodyFacts:
    sex: Sex | None = None
    age_years: float | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    activity: Activity | None = None

    def found(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}


def parse_goal(text: str) -> Goal | None:
    """'lose weight', 'Loose wieght', 'I want to eat healthier', '2' (the second choice) → a Goal."""
    lowered = re.sub(r"[^a-z0-9 ]", " ", text.lower()).strip()
    numbered = {"1": Goal.LOSE_WEIGHT, "2": Goal.EAT_BETTER, "3": Goal.SAVE_MONEY, "4": Goal.MAINTAIN}
    if lowered in numbered:
        return numbered[lowered]
    for phrase in sorted(_GOAL_WORDS, key=len, reverse=True):
        if re.search(rf"\b{re.escape(phrase)}\b", lowered):
            return _GOAL_WORDS[phrase]
    words = lowered.split()
    for size in (2, 1):  # typos: compare each one- or two-word window with the phrases
        for i in range(len(words) - size + 1):
            window = " ".join(words[i : i + size])
            close = difflib.get_close_matches(window, _GOAL_WORDS, n=1, cutoff=0.8)
            if close and len(window) >= 4:
                return _GOAL_WORDS[close[0]]
    return None


def parse_body(text: str) -> BodyFacts:
    """Sex, age, height, weight and activity, whichever the text states (metric or US units)."""
    t = text.lower().replace("’", "'").replace("″", '"').replace("′", "'")
    sex = None
    # a lone "m"/"f" counts only as the first word: "I'm" and "1.80 m" hold an m too
    if re.search(r"\b(female|woman|girl)\b|^f\b", t):
        sex = Sex.FEMALE
    elif re.search(r"\b(male|man|guy|boy)\b|^m\b", t):
        sex = Sex.MALE
    height = None
    if m := re.search(r"(\d{3}(?:\.\d+)?)\s*(?:cm|centimet(?:er|re)s?)\b", t):
        height = float(m[1])
    elif m := re.search(r"\b([12][.,]\d{1,2})\s*(?:m|meters?|metres?)\b", t):
        height = float(m[1].replace(",", ".")) * 100
    elif m := re.search(r"\b([4-7])\s*(?:'|ft|foot|feet)\s*(?:(\d{1,2})\s*(?:\"|in|inches|'')?)?", t):
        height = (int(m[1]) * 12 + int(m[2] or 0)) * 2.54
    weight = None
    if m := re.search(r"(\d{2,3}(?:[.,]\d+)?)\s*(?:kg|kgs|kilos?|kilograms?)\b", t):
        weight = float(m[1].replace(",", "."))
    elif m := re.search(r"(\d{2,3}(?:[.,]\d+)?)\s*(?:lbs?|pounds?)\b", t):
        weight = float(m[1].replace(",", ".")) * 0.45359237
    age = None
    if (m := re.search(r"(\d{2})\s*(?:years?|yrs?|yo|y/o|y\.o\.)\b", t)) or (
        m := re.search(r"\b(?:age|aged|i'?m|i am)\s*:?\s*(\d{2})\b(?!\s*(?:cm|kg|lb|'|\"|ft|m\b|%))", t)
    ):
        age = float(m[1])
    activity = next((level for level, pattern in _ACTIVITY if re.search(pattern, t)), None)
    return BodyFacts(sex, age, round(height, 1) if height else None, round(weight, 1) if weight else None, activity)
