"""One text message → one reply: commands, answers to our questions, corrections, typed meals, onboarding.

Order matters: a pending "delete?" first, then the answer to a preference question and what was learned
("what do you know about me", "reset spice", "swap quinoa for rice": `bot.personal`), then meal plans
(`bot.plans`), then commands, then the question we asked
(which food, how much, what the unknown food in a photo was, allergies, goal, a profile fact), then corrections of
the last meal, then meals. Blocking: run off the loop.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.chat_text import MAX_CHARS, day_line, fit, is_whatsapp
from bot.coach import wording as text
from bot.coach.advisor import Advisor, TableSource, targets_of
from bot.coach.commands import BILLING_COMMANDS, Intent, classify, run_command
from bot.coach.fix_last_meal import CorrectionError, apply_correction
from bot.coach.forget import HOW_TO_CONFIRM, Forgetter, confirmation
from bot.coach.typed_meals import TypedMeals
from bot.gallery.ask_back import AskBack
from bot.ledger import period_keys
from bot.personal.eaten import RATE_ASKING, EatenMeals
from bot.personal.intents import parse as parse_personal
from bot.personal.questions import ASKING, Questions
from bot.personal.replies import PersonalReplies
from bot.storage.photo_store import PhotoStore
from bot.storage.protocols import BotStore
from bot.storage.records import DayTotals, ItemRecord, MessageRecord, ProfileRecord, UserRecord
from nutrition.allergens import parse_allergies
from nutrition.corrections import REGRAM, REMOVE, parse_correction
from nutrition.meal_text import has_amounts, looks_like_meal
from nutrition.profile_text import GOAL_LABELS, parse_body, parse_goal
from nutrition.targets import Goal

log = logging.getLogger(__name__)
OPTIONAL_FACTS = ("sex", "age", "height", "weight", "activity")
_FACT_FIELD = {"sex": "sex", "age": "age_years", "height": "height_cm", "weight": "weight_kg", "activity": "activity"}
ZONE_ASKING = "timezone"  # profile.asking while the time zone question waits; profile.asked keeps it asked once
_GREETING = re.compile(r"^(hi|hello|hey|hiya|yo|good (morning|afternoon|evening)|start over|hola)\b")


@dataclass(frozen=True)
class Turn:
    messages: tuple[str, ...]
    intent: str
    deleted: bool = False


class Plans(Protocol):
    """The meal-plan wing as the conversation calls it (`bot.plans.service.PlanService`, a wing above this one)."""

    def classify(self, body: str): ...
    def handle(self, user: UserRecord, profile: ProfileRecord, intent, now: datetime, whatsapp: bool):
        """A reply with `messages` and `intent`, or None when the message is not about plans after all."""


class BillingReplies(Protocol):
    """Billing as the conversation calls it (`bot.billing.commands.BillingCommands`, a wing above this one)."""

    def reply(self, command: str, user: UserRecord, arg: str, now: datetime) -> str:
        """The answer to one of `BILLING_COMMANDS` (upgrade, billing, cancel_subscription)."""

    def checkout_link(self, user: UserRecord, tier: str, now: datetime) -> str | None:
        """Our signed link to Checkout for `tier`, for the limit nudge; None when billing is off or `tier` unpriced."""


class CalendarReplies(Protocol):
    """The calendar wing as the conversation calls it (`bot.calendar.commands.CalendarReplies`, a wing above)."""

    def handle(self, user: UserRecord, body: str, now: datetime):
        """A reply with `messages` and `intent` to a time zone or calendar message; None for any other."""

    def zone_question(self, user: UserRecord) -> str | None:
        """The time zone question when the person's number does not tell it and they have not said it, else None."""

    def answer_zone(self, user: UserRecord, body: str, now: datetime):
        """The reply to that question, like `handle`'s; None when `body` names no zone."""


class Conversation:
    def __init__(
        self,
        store: BotStore,
        advisor: Advisor,
        tables: TableSource,
        ask_back: AskBack | None = None,
        photos: PhotoStore | None = None,
        plans: Plans | None = None,
        billing: BillingReplies | None = None,
        calendar: CalendarReplies | None = None,
    ):
        self.store = store
        self.calendar = calendar
        self.plans = plans
        self.billing = billing
        self.advisor = advisor
        self.tables = tables
        self.meals = TypedMeals(store, tables)
        self.ask_back = ask_back
        self.forgetter = Forgetter(photos)
        self.personal = PersonalReplies(store, plans)
        self.questions = Questions(store)
        self.eaten = EatenMeals(store, plans)  # a planned meal logged, and "How was it?"

    def handle(self, user: UserRecord, message: MessageRecord, now: datetime) -> Turn:
        body = message.body.strip()
        profile = self.store.get_profile(user.id)
        if profile.asking == "confirm_delete":
            answer = confirmation(body)
            if answer == "delete":
                self.forgetter.forget(self.store.delete_user(user.id))
                return Turn((text.DELETED,), "delete_confirmed", deleted=True)
            if answer == "ask_again":  # they mean to; a bare yes is too easy to send by mistake to erase it all
                return Turn((HOW_TO_CONFIRM,), "delete_ask_again")
            self.store.update_profile(user.id, now, asking=None)
            return Turn((text.KEPT,), "delete_cancelled")
        if profile.asking and profile.asking.startswith(ASKING):  # our one preference question of the day
            said = self.questions.answer(user, profile, body, now)
            if said is not None:
                return Turn((said,), "preference_answer")
            profile = self.store.get_profile(user.id)
        if profile.asking == RATE_ASKING:  # "How was it?" about a planned meal just logged
            said = self.eaten.answer(user, body, now)
            if said is not None:
                return Turn((said,), "planned_rating")
            profile = self.store.get_profile(user.id)
        if profile.asking == ZONE_ASKING:  # asked once: an answer naming no zone is read as any other message
            self.store.update_profile(user.id, now, asking=None)
            if self.calendar and (dated := self.calendar.answer_zone(user, body, now)) is not None:
                return Turn(dated.messages, dated.intent)
        if self.calendar and (dated := self.calendar.handle(user, body, now)) is not None:  # time zone, calendar
            return Turn(dated.messages, dated.intent)
        # what was learned ("what do you know about me", "reset spice", "swap quinoa for rice"), then meal plans
        # ("plan my week", "day 2", "no fish", "i have rice"...), before the commands and meals
        if (personal := parse_personal(body)) is not None:
            lines = text.profile_text(profile, targets_of(profile)) if personal.name == "known" else ""
            turn = self.personal.handle(user, profile, personal, now, is_whatsapp(message.from_addr), lines)
            return Turn(turn.messages, turn.intent)
        plan_intent = self.plans.classify(body) if self.plans else None
        if plan_intent is not None:
            planned = self.plans.handle(user, profile, plan_intent, now, is_whatsapp(message.from_addr))
            if planned is not None:
                return Turn(planned.messages, planned.intent)
        intent = classify(body)
        if intent is not None:
            return self._command(user, profile, intent, now)
        whatsapp = is_whatsapp(message.from_addr)
        day = period_keys(now, user.timezone)["day"]

        pending = self.meals.answer(user, message, body, now)
        if pending is not None:
            return self._meal_turn(user, pending, day, now, whatsapp, "meal_answer")
        answered = self.ask_back.answer(user, message, body, now) if self.ask_back else None
        if answered is not None:
            return Turn(answered, "photo_answer")
        if profile.asking in ("allergies", "goal", *OPTIONAL_FACTS):
            turn = self._answer(user, profile, body, now)
            if turn is not None:
                return turn
        correction = parse_correction(body)
        if correction is not None and not (correction.kind == REMOVE and looks_like_meal(body) and has_amounts(body)):
            turn = self._correct(user, correction, now, day)
            if turn is not None:
                return turn
        if looks_like_meal(body):
            outcome = self.meals.log(user, message, body, now)
            return self._meal_turn(user, outcome, day, now, whatsapp, "meal_text")
        facts = parse_body(body).found()
        if len(facts) >= 2:
            return self._facts(user, facts, now, "profile_facts")
        if _GREETING.match(body.lower()) or not profile.allergies_known or not profile.goal:
            question = self.next_question(user, self.store.get_profile(user.id), day, now)
            return Turn(tuple(filter(None, [text.WELCOME + (f"\n{question}" if question else "")])), "greeting")
        return Turn((text.NOT_A_COMMAND,), "unknown")

    # commands
    def _command(self, user: UserRecord, profile: ProfileRecord, intent: Intent, now: datetime) -> Turn:
        name = intent.name
        if name in BILLING_COMMANDS:
            reply = self.billing.reply(name, user, intent.arg, now) if self.billing else text.PAYMENTS_OFF
            return Turn((reply,), name)
        if name in ("help", "undo"):
            return Turn((run_command(name, self.store, user, now),), name)
        if name == "today":
            return Turn((self.today(user, profile, now),), name)
        if name == "targets":
            return Turn((text.targets_text(targets_of(profile)),), name)
        if name == "profile":
            return Turn((text.profile_text(profile, targets_of(profile)),), name)
        if name == "export":
            data = json.dumps(self.store.export_user(user.id), separators=(",", ":"), sort_keys=True)
            return Turn(tuple(data[i : i + MAX_CHARS] for i in range(0, len(data), MAX_CHARS)), name)
        if name == "delete":
            self.store.update_profile(user.id, now, asking="confirm_delete")
            return Turn((text.CONFIRM_DELETE,), name)
        if name == "goal":
            goal = parse_goal(intent.arg)
            if goal is None:
                self.store.update_profile(user.id, now, asking="goal")
                return Turn((f"I didn't catch the goal. {text.ASK_GOAL}",), name)
            return self._set_goal(user, goal, now, name)
        if name == "allergy":
            return self._set_allergies(user, profile, intent.arg, now, name, merge=True)
        raise ValueError(f"unknown intent {name!r}")

    def today(self, user: UserRecord, profile: ProfileRecord, now: datetime) -> str:
        totals = self.store.day_totals(user.id, period_keys(now, user.timezone)["day"])
        if not totals.meals:
            return text.today_reply(totals)
        return fit("\n".join([day_line(totals), *self.advice(user, profile, totals, now, "today")]))

    def advice(
        self, user: UserRecord, profile: ProfileRecord, totals: DayTotals, now: datetime, moment: str
    ) -> list[str]:
        targets, left, options, tip = self.advisor.advise(user, profile, totals, now, moment)
        note = "(Meal ideas need the nutrition table.)" if options is None else None
        return text.advice_lines(targets, left, options, tip.text, note)

    # answers to our questions
    def _answer(self, user: UserRecord, profile: ProfileRecord, body: str, now: datetime) -> Turn | None:
        asking = profile.asking
        if asking == "allergies":
            if has_amounts(body):  # "2 eggs" is a meal, not an allergy
                return None
            return self._set_allergies(user, profile, body, now, "allergies", merge=False)
        if asking == "goal":
            goal = parse_goal(body)
            return self._set_goal(user, goal, now, "goal_answer") if goal else None
        facts = parse_body(body).found()
        if asking == "age" and not facts and re.fullmatch(r"\s*(\d{2})\s*", body):
            facts = {"age_years": float(body)}
        if asking == "sex" and not facts:
            lowered = body.strip().lower()
            facts = (
                {"sex": "male"}
                if lowered in ("m", "male", "man")
                else {"sex": "female"}
                if lowered in ("f", "female", "woman")
                else {}
            )
        if not facts:
            self.store.update_profile(user.id, now, asking=None)
            return None
        return self._facts(user, facts, now, f"{asking}_answer")

    def _facts(self, user: UserRecord, facts: dict, now: datetime, intent: str) -> Turn:
        values = {k: (v.value if hasattr(v, "value") else v) for k, v in facts.items()}
        profile = self.store.update_profile(user.id, now, asking=None, **values)
        targets = targets_of(profile)
        return Turn((f"Thanks, noted.\n{text.target_line(targets)}",), intent)

    def _set_goal(self, user: UserRecord, goal: Goal, now: datetime, intent: str) -> Turn:
        profile = self.store.update_profile(user.id, now, goal=goal.value, asking=None)
        lines = [f"Goal set: {GOAL_LABELS[goal]}.", text.target_line(targets_of(profile))]
        question = self.next_question(user, profile, period_keys(now, user.timezone)["day"], now, onboarding=True)
        return Turn(("\n".join(filter(None, [*lines, question])),), intent)

    def _set_allergies(
        self, user: UserRecord, profile: ProfileRecord, said: str, now: datetime, intent: str, merge: bool
    ) -> Turn:
        found = parse_allergies(said)
        if found.none:
            top9, notes = [], []
        else:
            top9 = sorted(set(profile.allergens) | found.top9) if merge else sorted(found.top9)
            notes = list(dict.fromkeys((*profile.allergy_notes, *found.other) if merge else found.other))
        profile = self.store.update_profile(
            user.id, now, allergens=top9, allergy_notes=notes, allergies_known=True, asking=None
        )
        if top9 or notes:
            reply = f"Noted, allergies: {text.allergies_text(profile)}. I'll never suggest food with them."
        else:
            reply = "Noted: no food allergies."
        question = self.next_question(user, profile, period_keys(now, user.timezone)["day"], now, onboarding=True)
        return Turn(("\n".join(filter(None, [reply, question])),), intent)

    def next_question(
        self, user: UserRecord, profile: ProfileRecord, day: str, now: datetime, onboarding: bool = False
    ) -> str | None:
        """The one question worth asking now: allergies, then the goal, then (one a day) the time zone where the
        number did not tell it, a profile fact."""
        if not profile.allergies_known:
            self.store.update_profile(user.id, now, asking="allergies")
            return text.ASK_ALLERGIES
        if not profile.goal:
            self.store.update_profile(user.id, now, asking="goal")
            return text.ASK_GOAL
        if onboarding or profile.asked.get("_day") == day:
            return None
        if ZONE_ASKING not in profile.asked and self.calendar and (zone := self.calendar.zone_question(user)):
            self.store.update_profile(
                user.id, now, asking=ZONE_ASKING, asked={**profile.asked, ZONE_ASKING: day, "_day": day}
            )
            return zone
        for fact in OPTIONAL_FACTS:
            if getattr(profile, _FACT_FIELD[fact]) is None and fact not in profile.asked:
                self.store.update_profile(user.id, now, asking=fact, asked={**profile.asked, fact: day, "_day": day})
                return text.QUESTIONS[fact]
        return self.questions.ask(user, profile, day, now)  # a preference, once past the first week

    # corrections and meals
    def _correct(self, user: UserRecord, correction, now: datetime, day: str) -> Turn | None:
        try:
            fixed = apply_correction(self.store, user.id, correction, self.tables.get(), now)
        except CorrectionError as exc:
            return Turn((str(exc),), "correction_refused")
        if fixed is None:
            return None
        grams = fixed.after.grams if fixed.kind == REGRAM and fixed.after is not None else None
        self.personal.learning.corrected(user.id, fixed.meal.id, fixed.index, grams, fixed.after is None, now)
        before = f"{fixed.before.display_name} {fixed.before.grams:,.0f} g"
        if fixed.after is None:
            head = f"Removed {before} ({fixed.before.kcal:,.0f} kcal) from your last meal."
        else:
            head = f"Fixed: {before} -> {fixed.after.display_name} {fixed.after.grams:,.0f} g, {fixed.after.kcal:,.0f} kcal."
        lines = [head, day_line(fixed.totals) if fixed.totals.meals else text.today_reply(fixed.totals)]
        return Turn((fit("\n".join(lines)),), "correction")

    def _meal_turn(self, user: UserRecord, outcome, day: str, now: datetime, whatsapp: bool, intent: str) -> Turn:
        if isinstance(outcome, str):
            return Turn((outcome,), intent)
        foods, totals = outcome
        eaten = self.eaten.logged(user, [(f.ndb, f.name) for f in foods], now)
        profile = self.store.get_profile(user.id)
        lines = text.text_meal_lines(foods, totals, whatsapp)
        lines += self.advice(user, profile, totals, now, "meal_logged")
        question = self.next_question(user, profile, day, now) or self.eaten.ask(user, eaten, now)
        if question:
            lines.append(question)
        return Turn((fit("\n".join(lines)),), intent)

    def after_photo(
        self, user: UserRecord, totals: DayTotals, now: datetime, ask: bool = True, items: Sequence[ItemRecord] = ()
    ) -> list[str]:
        """What the coach adds under a photo's meal reply (the channel calls it once the meal is logged); `ask`:
        False when the reply already asks something; `items`: the meal's."""
        eaten = self.eaten.planned(user, [(i.name, i.display_name) for i in items], now)
        profile = self.store.get_profile(user.id)
        lines = self.advice(user, profile, totals, now, "meal_logged")
        if not ask:
            return lines
        question = self.next_question(user, profile, period_keys(now, user.timezone)["day"], now)
        question = question or self.eaten.ask(user, eaten, now)
        return lines + ([question] if question else [])
