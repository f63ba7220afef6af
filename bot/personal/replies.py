"""The personalization wing's answers: "what do you know about me", "reset spice", "swap quinoa for rice" (with a
plan, re-planned without quinoa as "no quinoa" would), "too spicy", "i only have 20 minutes to cook". Blocking,
inside the message's unit of work: each signal is stored with the message's reply or not at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.chat_text import fit
from bot.personal import wording
from bot.personal.intents import PersonalIntent
from bot.personal.service import Learning
from bot.storage.protocols import BotStore
from bot.storage.records import ProfileRecord, UserRecord
from nutrition.personalization import signals


@dataclass(frozen=True)
class PersonalTurn:
    messages: tuple[str, ...]
    intent: str


class Plans(Protocol):
    """The meal-plan wing as this one calls it (`bot.plans.service.PlanService`)."""

    def dish_in_question(self, user: UserRecord, now: datetime) -> dict | None: ...
    def avoid(self, user: UserRecord, profile: ProfileRecord, words: tuple[str, ...], now: datetime, whatsapp: bool):
        """Keep `words` out of the person's plans (re-planning the plan in use): a reply with `messages`."""

    def refit(self, user: UserRecord, profile: ProfileRecord, now: datetime, whatsapp: bool):
        """Re-plan what in the plan in use breaks the person's preferences now; None when nothing does."""


class PersonalReplies:
    def __init__(self, store: BotStore, plans: Plans | None = None):
        self.store = store
        self.plans = plans
        self.learning = Learning(store)

    def handle(
        self,
        user: UserRecord,
        profile: ProfileRecord,
        intent: PersonalIntent,
        now: datetime,
        whatsapp: bool,
        profile_lines: str = "",
    ) -> PersonalTurn:
        if intent.name == "known":
            said = self.store.meal_preferences(user.id)
            return PersonalTurn((wording.known_text(self.learning.get(user.id), profile_lines, said),), "known")
        if intent.name == "reset":
            self.learning.reset(user.id, intent.field, now)
            return PersonalTurn((wording.reset_text(intent.field),), "reset_preferences")
        if intent.name == "too_spicy":
            dish = self.plans.dish_in_question(user, now) if self.plans else None
            spice = dish["spice"] if dish and dish["spice"] else None  # "too spicy" about a 0 is not about spice
            prefs = self.learning.learn(user.id, now, signals.too_spicy, spice)
            level = wording.SPICE_LEVELS[int(prefs.spice_tolerance.value)] if prefs.spice_tolerance else "mild"
            return self._refit(user, profile, now, whatsapp, f"Noted: I'll keep your meals milder ({level} at most).")
        if intent.name == "cooking_minutes":
            self.learning.learn(user.id, now, signals.said_cooking_minutes, intent.minutes)
            said = f"Noted: recipes of {intent.minutes} minutes at most."
            return self._refit(user, profile, now, whatsapp, said)
        if intent.name == "substitute":
            return self._substitute(user, profile, intent, now, whatsapp)
        raise ValueError(f"unknown personal intent {intent.name!r}")

    def _refit(self, user, profile, now: datetime, whatsapp: bool, noted: str) -> PersonalTurn:
        """`noted`, and the plan in use re-planned where it no longer fits (or "from your next plan")."""
        planned = self.plans.refit(user, profile, now, whatsapp) if self.plans else None
        if planned is None:
            return PersonalTurn((f"{noted} That applies from your next plan.",), "preference_said")
        return PersonalTurn((fit(f"{noted} {planned.messages[0]}"),), planned.intent)

    def _substitute(self, user, profile, intent: PersonalIntent, now: datetime, whatsapp: bool) -> PersonalTurn:
        self.learning.learn(user.id, now, signals.substituted, removed=intent.removed, added=intent.added)
        noted = f"Noted: {intent.added} instead of {intent.removed}."
        planned = self.plans.avoid(user, profile, (intent.removed,), now, whatsapp) if self.plans else None
        if planned is not None:
            said = fit(f"OK, {intent.added} instead of {intent.removed}. {planned.messages[0]}")
            return PersonalTurn((said,), planned.intent)
        return PersonalTurn((f"{noted} I won't plan {intent.removed} for you.",), "substitution")
