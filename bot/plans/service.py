"""The meal-plan conversation: make a plan, show it, edit it ("swap tuesday dinner", "no fish", "i ate out on
friday"), rate its meals, and the shopping list with its grocery links.

Blocking: the conversation calls it off the loop, inside the message's unit of work. An edit re-plans only what
changes: every other meal is kept (`PlanRequest.keep`), and only if no plan fits that way is more freed (the day,
then the rest of the week). Allergies and preferences are read afresh at every plan and edit, never from
the stored plan, and a stored plan that breaks an allergy told after it was made is re-planned before it is used.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from bot.plans import wording
from bot.plans.context import PlanTurn, week_start
from bot.plans.edits import PlanEdits
from bot.plans.intents import PlanIntent, parse
from bot.plans.lists import PlanLists
from bot.plans.preferences import budget_text, with_budget
from bot.storage.records import ProfileRecord, UserRecord
from nutrition.planning.planner import Infeasible, PlanTimeout, plan_week

log = logging.getLogger(__name__)


class PlanService(PlanEdits, PlanLists):
    """`classify` a message, then `handle` it: `PlanService(store, ledger, settings, catalogue, grocery)`."""

    def classify(self, body: str) -> PlanIntent | None:
        return parse(body)

    def handle(
        self, user: UserRecord, profile: ProfileRecord, intent: PlanIntent, now: datetime, whatsapp: bool
    ) -> PlanTurn | None:
        """The reply to `intent`; None when it is not about plans after all ("no nuts" answering our allergy
        question, "i have 2 eggs" without a plan)."""
        if intent.name == "dislike" and profile.asking == "allergies":
            return None
        return getattr(self, _HANDLERS[intent.name])(user, profile, intent, now, whatsapp)

    # making a plan
    def _make(self, user, profile, intent, now, whatsapp) -> PlanTurn:
        if not profile.allergies_known:  # never plan around allergies we were not told
            self.store.update_profile(user.id, now, asking="allergies")
            return PlanTurn((wording.ASK_ALLERGIES_FIRST,), "plan_needs_allergies")
        catalogue = self.catalogue.get()
        if catalogue is None:
            return PlanTurn((wording.NO_CATALOGUE,), "plan_unavailable")
        hit = self.ledger.reserve_meal_plan(user, now)
        if hit is not None:
            return PlanTurn((wording.limit_text(hit, self._upgrades(user), self.settings.upgrade_url),), "plan_limited")
        stored = {
            "days": intent.days,
            "slots": list(intent.slots),
            "leftovers": intent.leftovers,
            "skip": [],
            "avoid": [],
        }
        try:  # within plan_budget_s: the message's transaction holds the database meanwhile
            deadline = time.monotonic() + self.settings.plan_budget_s
            plan = plan_week(self._request(profile, stored), catalogue.recipes, deadline=deadline)
        except Exception as exc:  # not made: not counted
            self.ledger.refund_meal_plan(user, now)
            if isinstance(exc, Infeasible):
                return PlanTurn((wording.infeasible_text(exc),), "plan_infeasible")
            if isinstance(exc, PlanTimeout):
                log.warning("planning for user %s ran out of its %.0f s", user.id, self.settings.plan_budget_s)
                return PlanTurn((wording.TOO_SLOW,), "plan_too_slow")
            log.exception("planning for user %s failed", user.id)
            return PlanTurn((wording.FAILED,), "plan_failed")
        today = self._today(user, now)
        self.store.save_plan(user.id, week_start(today).isoformat(), today.isoformat(), plan.to_dict(), stored, now)
        return PlanTurn((wording.summary(plan, today, whatsapp),), "plan")

    def _upgrades(self, user: UserRecord) -> list:
        mine = self.ledger.limits(user).meal_plans_per_month
        better = [(name, t) for name, t in self.settings.tiers.items() if t.meal_plans_per_month > mine]
        return sorted(better, key=lambda pair: pair[1].meal_plans_per_month)

    def _budget(self, user, profile, intent, now, whatsapp) -> PlanTurn:
        if intent.budget is None:
            return PlanTurn((wording.HOW_TO_BUDGET,), "plan_budget")
        saved = self.store.set_meal_preferences(
            user.id, with_budget(self.store.meal_preferences(user.id), intent.budget), now
        )
        said = f'Budget set: {budget_text(saved, profile)}. It applies from your next "plan my week".'
        return PlanTurn((said,), "plan_budget")


_HANDLERS = {
    "plan": "_make",
    "show": "_show",
    "swap": "_swap",
    "dislike": "_dislike",
    "reset_dislikes": "_reset_dislikes",
    "ate_out": "_ate_out",
    "shopping": "_shopping",
    "links": "_shopping",
    "have": "_have",
    "rate": "_rate",
    "budget": "_budget",
}
