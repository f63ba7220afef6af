"""What every meal-plan handler shares: the reply (`PlanTurn`), the plan in use (`Current`), and `PlanBase`: the
request a plan is made with, finding the plan in use (mended first if it breaks an allergy told after it was made)
and re-planning part of it. Blocking, like the whole conversation."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from bot.coach.advisor import allergies_of, targets_of
from bot.ledger import Ledger, period_keys
from bot.personal.service import Learning
from bot.plans import wording
from bot.plans.catalogue import Catalogue, RecipeCatalogue
from bot.plans.grocery import GroceryLinks
from bot.plans.intents import DayRef
from bot.plans.preferences import budget_of, preferences_of
from bot.settings import BotSettings
from bot.storage.protocols import BotStore
from bot.storage.records import PlanRecord, ProfileRecord, UserRecord
from nutrition.planning.checker import check_plan
from nutrition.planning.planner import Infeasible, Plan, PlanRequest, PlanTimeout, plan_week
from nutrition.planning.recipes import SLOTS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanTurn:
    messages: tuple[str, ...]
    intent: str


@dataclass(frozen=True)
class Current:
    """The plan in use: its record, the plan, its first day and today's index in it."""

    record: PlanRecord
    plan: Plan
    start: date
    today: int
    note: str = ""  # said first: the plan was just mended (an allergy told after it was made)

    def day_label(self, index: int) -> str:
        return f"{self.start + timedelta(days=index):%A}"

    def runs(self) -> str:
        end = self.start + timedelta(days=len(self.plan.days) - 1)
        return f"Your plan runs {self.start:%a %d %b} - {end:%a %d %b}; that day isn't in it."


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


class PlanBase:
    def __init__(
        self,
        store: BotStore,
        ledger: Ledger,
        settings: BotSettings,
        catalogue: RecipeCatalogue,
        grocery: GroceryLinks,
    ):
        self.store = store
        self.ledger = ledger
        self.settings = settings
        self.catalogue = catalogue
        self.grocery = grocery
        self.learning = Learning(store)

    def _request(self, profile: ProfileRecord, stored: dict, keep: dict | None = None) -> PlanRequest:
        """What to plan: the person as they are now (targets, allergies, preferences, budget), the plan's `stored`
        choices (days, slots, leftovers, skip, avoid), and the meals to `keep`."""
        saved = self.store.meal_preferences(profile.user_id)
        return PlanRequest(
            targets=targets_of(profile),
            allergies=allergies_of(profile),
            days=stored["days"],
            slots=tuple(stored["slots"]),
            budget_usd_per_week=budget_of(saved, profile),
            preferences=preferences_of(saved, self.learning.get(profile.user_id)),
            leftovers=stored["leftovers"],
            skip=frozenset((day, slot) for day, slot in stored["skip"]),
            keep=keep or {},
            avoid=frozenset((day, slot, recipe) for day, slot, recipe in stored["avoid"]),
        )

    def _dish(self, recipe_id: str, catalogue: Catalogue) -> dict:
        """What a rating or "too spicy" teaches about a planned recipe: its cuisine, foods (shop items), spice."""
        priced = next((p for p in catalogue.recipes if p.recipe.id == recipe_id), None)
        if priced is None:
            return {"cuisine": None, "foods": (), "spice": None}
        recipe = priced.recipe
        return {"cuisine": recipe.cuisine, "foods": [i.item for i in recipe.ingredients], "spice": recipe.spice}

    # the plan in use
    def _today(self, user: UserRecord, now: datetime) -> date:
        return date.fromisoformat(period_keys(now, user.timezone)["day"])

    def _current(self, user: UserRecord, now: datetime) -> Current | None:
        record = self.store.latest_plan(user.id)
        if record is None:
            return None
        start, plan = date.fromisoformat(record.start_day), Plan.from_dict(record.plan)
        today = (self._today(user, now) - start).days
        return Current(record, plan, start, today) if today < len(plan.days) else None

    def _in_use(self, user, profile, now) -> tuple[Current, Catalogue] | PlanTurn:
        catalogue = self.catalogue.get()
        if catalogue is None:
            return PlanTurn((wording.NO_CATALOGUE,), "plan_unavailable")
        current = self._current(user, now)
        if current is None:
            return PlanTurn((wording.NO_PLAN,), "plan_none")
        unsafe = self._breaking(current, profile, catalogue, {"allergy"})
        if not unsafe:
            return current, catalogue
        mended = self._edit(profile, current, catalogue, current.record.request, unsafe, now)
        if isinstance(mended, PlanTurn):
            return PlanTurn((wording.UNSAFE,), "plan_unsafe")
        return replace(mended, note=f"I changed {len(unsafe)} planned meal(s) for your allergies.\n"), catalogue

    def _breaking(self, current: Current, profile, catalogue: Catalogue, rules) -> set[tuple[int, str]]:
        """The meals of the plan that break one of `rules` for the person as they are now."""
        request = self._request(profile, current.record.request)
        found = check_plan(current.plan, request, catalogue.recipes)
        return {(v.day, v.slot) for v in found if v.rule in rules and v.slot is not None}

    def _index(self, current: Current, day: DayRef | None) -> int | None:
        """The plan's index of `day` (today's when None), None when outside the plan."""
        days = len(current.plan.days)
        if day is None or day.offset is not None:
            index = current.today + (day.offset if day else 0)
        elif day.index is not None:
            index = day.index
        else:
            weekdays = [(current.start + timedelta(days=i)).weekday() for i in range(days)]
            index = weekdays.index(day.weekday) if day.weekday in weekdays else -1
        return index if 0 <= index < days else None

    # editing
    def _edit(
        self, profile, current: Current, catalogue: Catalogue, stored: dict, freed, now, shown=None
    ) -> Current | PlanTurn:
        """Re-plan the `freed` meals keeping the rest, freeing more only when needed, and store it: the plan in use
        now, or a PlanTurn saying why not (the stored plan is then unchanged)."""
        meals, skip = current.plan.meals(), {(d, s) for d, s in stored["skip"]}
        everything = {(d, s) for d in range(len(current.plan.days)) for s in SLOTS}
        later = {(d, s) for d, s in everything if d >= current.today}
        days = {(d, s) for d, s in everything if d in {day for day, _ in freed}}
        attempts, infeasible = [set(freed), set(freed) | days, set(freed) | days | later, everything], []
        attempts = list(dict.fromkeys(map(frozenset, attempts)))
        deadline = time.monotonic() + self.settings.plan_budget_s  # for all the attempts: see plan_budget_s
        person = self._request(profile, stored)  # read once: the attempts differ only in what they keep
        for n, attempt in enumerate(attempts, 1):
            keep = {key: meal for key, meal in meals.items() if key not in attempt and key not in skip}
            try:  # only the last attempt's failure is told, so only it is worth the diagnosis
                request = replace(person, keep=keep)
                plan = plan_week(request, catalogue.recipes, deadline=deadline, diagnose=n == len(attempts))
                break
            except Infeasible as exc:
                infeasible.append(exc)
            except PlanTimeout:
                log.warning("re-planning plan %s ran out of its %.0f s", current.record.id, self.settings.plan_budget_s)
                return PlanTurn((wording.TOO_SLOW,), "plan_too_slow")
            except Exception:  # the planner failed on this one (nothing left open, a bug): free more
                log.warning("re-planning plan %s keeping %d meals failed", current.record.id, len(keep), exc_info=True)
        else:
            if infeasible:
                return PlanTurn((wording.infeasible_text(infeasible[-1]),), "plan_infeasible")
            return PlanTurn((wording.FAILED,), "plan_failed")
        values = {"plan": plan.to_dict(), "request": stored} | ({"shown": shown} if shown else {})
        return replace(current, record=self.store.update_plan(current.record.id, now, **values), plan=plan)
