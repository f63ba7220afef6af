"""The one preference question a day, once the person is past their first week and engaged
(`nutrition.personalization.use.next_question`), and reading the answer. Onboarding's own questions (allergies,
goal, a profile fact a day) come first and share the same once-a-day allowance (`profile.asked["_day"]`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.ledger import period_keys
from bot.personal import wording
from bot.personal.service import Learning
from bot.storage.protocols import BotStore
from bot.storage.records import ProfileRecord, UserRecord
from nutrition.personalization import answers, signals
from nutrition.personalization.preferences import BUDGETS, SKILLS, UserPreferences
from nutrition.personalization.use import next_question, stage

ASKING = "pref_"  # profile.asking of a preference question: "pref_spice"
CUISINES = {
    "american": "american",
    "chinese": "chinese",
    "indian": "indian",
    "italian": "italian",
    "japanese": "japanese",
    "korean": "korean",
    "mediterranean": "mediterranean",
    "greek": "mediterranean",
    "mexican": "mexican",
    "middle eastern": "middle_eastern",
    "lebanese": "middle_eastern",
    "thai": "thai",
}
SPICE_ANSWERS = {
    **dict.fromkeys(("none", "no", "no spice", "not spicy", "not at all", "0"), 0),
    **dict.fromkeys(("mild", "a little", "a bit", "little", "1"), 1),
    **dict.fromkeys(("medium", "spicy", "some", "2"), 2),
    **dict.fromkeys(("hot", "very hot", "very spicy", "the hotter the better", "3"), 3),
}
SKILL_ANSWERS = {
    **dict.fromkeys(("basic", "beginner", "novice", "not great", "bad", "poor"), "basic"),
    **dict.fromkeys(("intermediate", "ok", "okay", "decent", "average", "good"), "intermediate"),
    **dict.fromkeys(("advanced", "expert", "very good", "great", "excellent"), "advanced"),
}
BUDGET_ANSWERS = {
    **dict.fromkeys(("tight", "low", "cheap", "small", "limited"), "tight"),
    **dict.fromkeys(("normal", "medium", "average", "moderate", "ok"), "normal"),
    **dict.fromkeys(("generous", "high", "flexible", "no limit", "not an issue"), "generous"),
}
_NOT = re.compile(r"\b(?:not|no|except|but not|hate|dislike)\s+(?P<what>[a-z ]+)")


class Questions:
    def __init__(self, store: BotStore):
        self.store = store
        self.learning = Learning(store)

    def stage(self, user: UserRecord, now: datetime, prefs: UserPreferences | None = None) -> str:
        """The person's personalization stage; `prefs`: their preferences when the caller has read them already."""
        since = self.store.personal_since(user.id)
        days_active = (now - since).days if since else 0
        days = {period_keys(now - timedelta(days=d), user.timezone)["day"] for d in range(7)}
        messages = sum(used["messages"] for used in self.store.usages(user.id, "day", days).values())
        prefs = self.learning.get(user.id) if prefs is None else prefs
        return stage(prefs, days_active=days_active, messages_last_7_days=messages)

    def ask(self, user: UserRecord, profile: ProfileRecord, day: str, now: datetime) -> str | None:
        """The preference question to ask now, noted as asked (today's one), or None."""
        correcting = (
            profile.asking is not None
            or self.store.get_clarification(user.id) is not None
            or self.store.photo_question(user.id) is not None
        )
        asked_today = 1 if profile.asked.get("_day") == day else 0
        if correcting or asked_today:  # what next_question would say, without reading a week of usage first
            return None
        prefs = self.learning.get(user.id)
        field = next_question(prefs, stage=self.stage(user, now, prefs), asked_today=asked_today, correcting=correcting)
        if field is None:
            return None
        self.learning.learn(user.id, now, answers.question_asked, field)
        self.store.update_profile(user.id, now, asking=ASKING + field, asked={**profile.asked, "_day": day})
        return wording.QUESTIONS[field]

    def answer(self, user: UserRecord, profile: ProfileRecord, body: str, now: datetime) -> str | None:
        """The reply to an answer of the question asked (`profile.asking`); None when it isn't one (the question
        is dropped and the message read as anything else)."""
        field = (profile.asking or "").removeprefix(ASKING)
        said = " ".join(re.sub(r"[^a-z0-9 ]+", " ", body.lower()).split())
        self.store.update_profile(user.id, now, asking=None)
        if field == "dislikes":
            foods = dislike_answer(" ".join(re.sub(r"[^a-z0-9,;& ]+", " ", body.lower()).split()))
            if foods is None:
                return None
            self.learning.learn(user.id, now, answers.said_dislikes, foods)
            return f"Noted: no {', '.join(foods)} in your meal plans." if foods else "Noted: nothing to avoid."
        if field == "cuisines":
            disliked = {CUISINES[c] for m in _NOT.finditer(said) for c in CUISINES if c in m["what"]}
            liked = {CUISINES[c] for c in CUISINES if c in said} - disliked
            if not liked and not disliked:
                return None
            self.learning.learn(user.id, now, answers.said_cuisines, liked=sorted(liked), disliked=sorted(disliked))
            return "Noted: " + ", ".join(c.replace("_", " ").title() for c in sorted(liked) or sorted(disliked)) + "."
        if field == "spice":
            level = SPICE_ANSWERS.get(said)
            if level is None:
                return None
            self.learning.learn(user.id, now, answers.said_spice, level)
            return f"Noted: {wording.SPICE_LEVELS[level]} at most."
        if field == "cooking_time":
            m = re.fullmatch(r"(?:about |around |max |at most )?(\d{1,3})(?: ?(?:minutes?|mins?|min))?", said)
            if not m or not 5 <= int(m[1]) <= 240:
                return None
            self.learning.learn(user.id, now, signals.said_cooking_minutes, int(m[1]))
            return f"Noted: recipes of {int(m[1])} minutes at most."
        if field == "cooking_skill" and said in SKILL_ANSWERS and SKILL_ANSWERS[said] in SKILLS:
            self.learning.learn(user.id, now, answers.said_cooking_skill, SKILL_ANSWERS[said])
            return f"Noted: {SKILL_ANSWERS[said]} cooking."
        if field == "budget" and BUDGET_ANSWERS.get(said) in BUDGETS:
            budget = BUDGET_ANSWERS[said]
            self.learning.learn(user.id, now, answers.said_budget, budget)
            saved = self.store.meal_preferences(user.id)  # what the planner's budget reads (bot.plans.preferences)
            self.store.set_meal_preferences(user.id, {**saved, "budget": budget}, now)
            return f"Noted: a {budget} budget for your meal plans."
        return None


_NONE = frozenset(("none", "no", "nothing", "nope", "no thanks", "not really", "nothing really", "all good", "n a"))
_LEAD = re.compile(r"^(?:i (?:do not|dont|don t) (?:like|eat)|i (?:hate|avoid)|no more|not|no|avoid|except)\s+")


def dislike_answer(said: str) -> list[str] | None:
    """'mushrooms, olives and no cilantro' → ['mushrooms', 'olives', 'cilantro']; 'none' → []; None when it does
    not read as a list of foods (a sentence of something else: the question is dropped)."""
    if said in _NONE:
        return []
    foods = []
    for part in re.split(r",|;|\band\b|\bor\b|&|\bnor\b", said):
        food = _LEAD.sub("", part.strip()).strip()
        if food:
            foods.append(food)
    if not foods or any(len(food.split()) > 3 for food in foods):
        return None
    return list(dict.fromkeys(foods))
