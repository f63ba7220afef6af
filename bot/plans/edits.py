"""Edits of the plan in use: "swap tuesday dinner", "no fish" (a dislike, then the meals with it re-planned),
"clear dislikes", "i ate out on friday" (the day, or one meal, skipped). Each re-plans only what changes."""

from __future__ import annotations

from bot.plans import wording
from bot.plans.context import PlanBase, PlanTurn
from bot.plans.intents import PlanIntent
from bot.plans.preferences import SPICE_WORDS, with_dislikes
from nutrition.personalization import signals
from nutrition.planning.recipes import SLOTS

MEAL_RULES = frozenset({"allergy", "dislikes", "spice", "cooking_time"})  # what re-planning a meal mends


class PlanEdits(PlanBase):
    def _swap(self, user, profile, intent, now, whatsapp) -> PlanTurn:
        got = self._in_use(user, profile, now)
        if isinstance(got, PlanTurn):
            return got
        current, catalogue = got
        meals = current.plan.meals()
        if intent.day is None and intent.slot is None:
            if not current.record.shown:
                return PlanTurn((wording.WHICH_MEAL,), "plan_swap")
            index, slots = current.record.shown["day"], [current.record.shown["slot"]]
        else:
            index = self._index(current, intent.day)
            if index is None:
                return PlanTurn((current.runs(),), "plan_swap")
            slots = [intent.slot] if intent.slot else [s for d, s in meals if d == index]
        if not slots or any((index, s) not in meals for s in slots):
            what = intent.slot or "meal"
            return PlanTurn((f"There's no {what} planned on {current.day_label(index)}.",), "plan_swap")
        for s in slots:  # a planned meal swapped away: a weak signal against its cuisine and foods
            self.learning.planned_meal(user.id, self._dish(meals[(index, s)].recipe_id, catalogue), False, now)
        stored = dict(current.record.request)
        stored["avoid"] = [*stored["avoid"], *([index, s, meals[(index, s)].recipe_id] for s in slots)]
        shown = {"day": index, "slot": slots[0]} if len(slots) == 1 else None
        edited = self._edit(profile, current, catalogue, stored, {(index, s) for s in slots}, now, shown)
        if isinstance(edited, PlanTurn):
            return edited
        if shown:
            reply = wording.meal_text(edited.plan, index, slots[0], current.start, whatsapp, head="Swapped. ")
        else:
            reply = wording.day_text(edited.plan, index, current.start, whatsapp)
        return PlanTurn((current.note + reply,), "plan_swap")

    def _dislike(self, user, profile, intent, now, whatsapp) -> PlanTurn | None:
        current = self._current(user, now)
        if current is None and not intent.explicit:
            return None  # "no chips" without a plan: not ours to read
        self.store.set_meal_preferences(user.id, with_dislikes(self.store.meal_preferences(user.id), intent.words), now)
        if not intent.learned:
            for word in intent.words:
                if word in SPICE_WORDS:
                    self.learning.learn(user.id, now, signals.too_spicy, None)
                else:
                    self.learning.learn(user.id, now, signals.disliked, word)
        noted = f"Noted: no {', '.join(intent.words)} in your meal plans."
        catalogue = self.catalogue.get()
        if current is None or catalogue is None:
            return PlanTurn((noted,), "plan_dislike")
        breaking = self._breaking(current, profile, catalogue, MEAL_RULES)
        if not breaking:
            return PlanTurn((f"{noted} Your plan has none.",), "plan_dislike")
        edited = self._edit(profile, current, catalogue, current.record.request, breaking, now)
        if isinstance(edited, PlanTurn):
            return PlanTurn((f"{noted} {edited.messages[0]}",), edited.intent)
        head = f"Re-planned {len(breaking)} meal(s) without {', '.join(intent.words)}"
        return PlanTurn((wording.summary(edited.plan, current.start, whatsapp, head=head),), "plan_dislike")

    def avoid(self, user, profile, words: tuple[str, ...], now, whatsapp) -> PlanTurn:
        """Keep `words` out of the person's plans as "no ..." does, without learning a dislike again (the caller
        learned it as what it was: a swap)."""
        return self._dislike(user, profile, PlanIntent("dislike", words=words, learned=True), now, whatsapp)

    def refit(self, user, profile, now, whatsapp) -> PlanTurn | None:
        """Re-plan the meals of the plan in use that break the person's preferences as they are now (a spice or
        cooking-time limit just learned); None when there is no plan or nothing breaks them."""
        current, catalogue = self._current(user, now), self.catalogue.get()
        if current is None or catalogue is None:
            return None
        breaking = self._breaking(current, profile, catalogue, MEAL_RULES)
        if not breaking:
            return None
        edited = self._edit(profile, current, catalogue, current.record.request, breaking, now)
        if isinstance(edited, PlanTurn):
            return edited
        head = f"Re-planned {len(breaking)} meal(s) to fit"
        return PlanTurn((wording.summary(edited.plan, current.start, whatsapp, head=head),), "plan_refit")

    def _reset_dislikes(self, user, profile, intent, now, whatsapp) -> PlanTurn:
        self.learning.reset(user.id, "dislikes", now)  # what was said (dislikes, spice) and what was learned
        return PlanTurn(("Done: I've forgotten your dislikes. They're back in your next plan.",), "plan_dislike")

    def _ate_out(self, user, profile, intent, now, whatsapp) -> PlanTurn:
        got = self._in_use(user, profile, now)
        if isinstance(got, PlanTurn):
            return got
        current, catalogue = got
        index = self._index(current, intent.day)
        if index is None:
            return PlanTurn((current.runs(),), "plan_skip")
        stored = dict(current.record.request)
        if intent.slot is not None and intent.slot not in stored["slots"]:
            return PlanTurn((f"Your plan has no {intent.slot}s: nothing to take off.",), "plan_skip")
        slots = [intent.slot] if intent.slot else list(stored["slots"])
        skip = {(d, s) for d, s in stored["skip"]} | {(index, s) for s in slots}
        stored["skip"] = sorted([d, s] for d, s in skip)
        # the day's other meals may have to change to fit what is left of its target
        edited = self._edit(profile, current, catalogue, stored, {(index, s) for s in SLOTS}, now)
        if isinstance(edited, PlanTurn):
            return edited
        skipped = [s for d, s in skip if d == index]
        reply = (
            wording.day_text(edited.plan, index, current.start, whatsapp, skipped) + "\nThe shopping list is updated."
        )
        return PlanTurn((current.note + reply,), "plan_skip")
