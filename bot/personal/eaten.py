"""What a logged meal teaches beyond its time: the cuisine its foods are evidence of, and, when it is one of
today's planned meals, that the plan's meal was kept (`signals.planned`), "rate 4" then being about it, and one
"How was it? (1-5)" about it; the reply to that question ("4", "loved it", "meh") is its rating.

The question keeps the conversation's rules: asked once per planned meal, only in the reply that logged it and
only when that reply asks nothing else, never while another question waits for an answer (ours, a typed meal's,
a photo's unknown food), and it takes the day's one question (`profile.asked["_day"]`, shared with onboarding
and the preference questions)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.ledger import period_keys
from bot.personal.service import Learning
from bot.storage.protocols import BotStore
from bot.storage.records import UserRecord

RATE_ASKING = "rate_planned"  # profile.asking while "How was it?" waits for its answer
EATEN = "_eaten"  # profile.asked: the planned meal last logged {plan_id, day, slot, recipe_id, asked}
HOW_WAS_IT = 'How was the {name}? (1-5, or e.g. "loved it")'
_SAID = {
    5: "loved it|love it|amazing|delicious|excellent|perfect|great|fantastic|awesome|so good|really good|yum|yummy"
    "|the best|superb|wonderful",
    4: "good|pretty good|very nice|nice|liked it|tasty|enjoyed it|not bad|quite good",
    3: "ok|okay|fine|meh|alright|average|so so|its ok|it s ok|decent|nothing special",
    2: "not great|not good|didnt like it|bland|disappointing|not really|not for me|poor",
    1: "hated it|hate it|awful|terrible|disgusting|horrible|gross|yuck|inedible",
}
WORD_RATINGS = {phrase: n for n, phrases in _SAID.items() for phrase in phrases.split("|")}
_LEAD = re.compile(r"^(?:it was|that was|was|it s|its|it is|honestly|really|i d say|id say|i rate it|rate it|rate)\s+")
_NUMBER = re.compile(r"^(?P<n>[1-5])(?: ?(?:/ ?5|out of 5|stars?))?(?: (?P<rest>.+))?$")


class PlannedMeals(Protocol):
    """The meal-plan wing as this one calls it (`bot.plans.service.PlanService`)."""

    def eaten(self, user: UserRecord, foods: Sequence[tuple[str, str]], now: datetime) -> dict | None: ...
    def rate_eaten(self, user: UserRecord, eaten: dict, rating: int, now: datetime) -> str | None: ...


def rating_of(body: str) -> int | None:
    """The 1-5 rating a reply to "How was it?" gives: "4", "4/5", "rate 4", "it was great", "meh"; None otherwise
    ("it was 150 g" is a correction, not a rating)."""
    said = " ".join(re.sub(r"[^a-z0-9/ ]+", " ", body.lower().replace("'", "")).split())
    said = _LEAD.sub("", said).removesuffix(" thanks").removesuffix(" thank you")
    if m := _NUMBER.match(said):
        rest = m["rest"]
        return int(m["n"]) if rest is None or rest in WORD_RATINGS else None
    return WORD_RATINGS.get(said)


def _in_sentence(name: str) -> str:
    """A dish's name inside a sentence: "Grilled chicken" → "grilled chicken", "BLT sandwich" kept."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


class EatenMeals:
    def __init__(self, store: BotStore, plans: PlannedMeals | None):
        self.store = store
        self.plans = plans
        self.learning = Learning(store)

    def logged(self, user: UserRecord, foods: Sequence[tuple[str, str]], now: datetime) -> dict | None:
        """A typed meal of `foods` ((name, display name) each) just logged: its time and cuisine learned, then
        `planned`."""
        self.learning.meal_logged(user, now, foods=[display for _, display in foods])
        return self.planned(user, foods, now)

    def planned(self, user: UserRecord, foods: Sequence[tuple[str, str]], now: datetime) -> dict | None:
        """If the meal just logged is one of today's planned meals not logged before: it is learned as kept and
        remembered (for "How was it?"); the planned meal, or None."""
        eaten = self.plans.eaten(user, foods, now) if self.plans else None
        if eaten is None:
            return None
        profile = self.store.get_profile(user.id)
        key = {k: eaten[k] for k in ("plan_id", "day", "slot", "recipe_id")}
        before = profile.asked.get(EATEN)
        if isinstance(before, dict) and {k: before.get(k) for k in key} == key:
            return None  # a second photo of the same meal teaches nothing more
        self.learning.planned_meal(user.id, eaten["dish"], True, now)
        self.store.update_profile(user.id, now, asked={**profile.asked, EATEN: {**key, "asked": False}})
        return eaten

    def ask(self, user: UserRecord, eaten: dict | None, now: datetime) -> str | None:
        """ "How was it?" about `eaten` (what `planned` returned in this reply), or None when the rules say no."""
        if eaten is None:
            return None
        profile = self.store.get_profile(user.id)
        day = period_keys(now, user.timezone)["day"]
        waiting = (
            profile.asking is not None
            or self.store.get_clarification(user.id) is not None
            or self.store.photo_question(user.id) is not None
        )
        noted = profile.asked.get(EATEN)
        if waiting or profile.asked.get("_day") == day or not isinstance(noted, dict) or noted.get("asked"):
            return None
        asked = {**profile.asked, EATEN: {**noted, "asked": True}, "_day": day}
        self.store.update_profile(user.id, now, asking=RATE_ASKING, asked=asked)
        return HOW_WAS_IT.format(name=_in_sentence(eaten["name"]))

    def answer(self, user: UserRecord, body: str, now: datetime) -> str | None:
        """The reply to an answer of "How was it?"; None when the message is not a rating (the question is
        dropped either way and the message read as anything else)."""
        profile = self.store.get_profile(user.id)
        self.store.update_profile(user.id, now, asking=None)
        rating, eaten = rating_of(body), profile.asked.get(EATEN)
        if rating is None or not isinstance(eaten, dict) or self.plans is None:
            return None
        return self.plans.rate_eaten(user, eaten, rating, now)
