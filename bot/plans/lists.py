"""Looking at the plan in use: the summary, a day, a meal ("tuesday dinner"), rating a meal ("rate 4": a planned
one, else the last meal logged; each rating is learned from), the shopping list with its grocery links, and what
the person already has ("i have rice")."""

from __future__ import annotations

from dataclasses import replace

from bot.ledger import period_keys
from bot.plans import wording
from bot.plans.context import Current, PlanBase, PlanTurn
from bot.plans.eaten import SLOT_HOURS, best_meal
from bot.plans.intents import PlanIntent
from nutrition.planning.planner import PlannedMeal
from nutrition.planning.shopping import shopping_list


class PlanLists(PlanBase):
    def _show(self, user, profile, intent, now, whatsapp) -> PlanTurn:
        got = self._in_use(user, profile, now)
        if isinstance(got, PlanTurn):
            return got
        current, _ = got
        if intent.day is None and intent.slot is None:
            return PlanTurn((current.note + wording.summary(current.plan, current.start, whatsapp),), "plan_show")
        index = self._index(current, intent.day)
        if index is None:
            return PlanTurn((current.runs(),), "plan_show")
        if intent.slot is None:
            skipped = [s for d, s in current.record.request["skip"] if d == index]
            reply = wording.day_text(current.plan, index, current.start, whatsapp, skipped)
            return PlanTurn((current.note + reply,), "plan_day")
        if (index, intent.slot) not in current.plan.meals():
            return PlanTurn((f"There's no {intent.slot} planned on {current.day_label(index)}.",), "plan_day")
        self.store.update_plan(current.record.id, now, shown={"day": index, "slot": intent.slot})
        reply = wording.meal_text(current.plan, index, intent.slot, current.start, whatsapp)
        return PlanTurn((current.note + reply,), "plan_day")

    def _rate(self, user, profile, intent, now, whatsapp) -> PlanTurn:
        current, catalogue = self._current(user, now), self.catalogue.get()
        if current is None or catalogue is None:
            return self._rate_last_meal(user, intent, now) or PlanTurn((wording.NO_PLAN,), "plan_none")
        got = self._in_use(user, profile, now)
        if isinstance(got, PlanTurn):
            return got
        current, catalogue = got
        meals = current.plan.meals()
        key = self._rated_meal(current, intent, meals, now, user)
        if key is None or key not in meals:
            named = intent.day is not None or intent.slot is not None
            return (None if named else self._rate_last_meal(user, intent, now)) or PlanTurn(
                (wording.WHICH_MEAL,), "plan_rating"
            )
        return PlanTurn((self._rate_meal(user, current, catalogue, key, intent.rating, now),), "plan_rating")

    def _rate_meal(self, user, current: Current, catalogue, key: tuple[int, str], rating: int, now) -> str:
        """Store and learn from a rating of the planned meal `key`; what the reply says."""
        meal: PlannedMeal = current.plan.meals()[key]
        self.store.add_plan_rating(user.id, current.record.id, key[0], key[1], meal.recipe_id, rating, now)
        self.store.update_plan(current.record.id, now, shown={"day": key[0], "slot": key[1]})
        dish = self._dish(meal.recipe_id, catalogue)
        self.learning.rated_foods(user.id, dish["foods"], rating, now, cuisine=dish["cuisine"], spice=dish["spice"])
        return f"Thanks: {meal.name} ({current.day_label(key[0])} {key[1]}) rated {rating}/5."

    def rate_eaten(self, user, eaten: dict, rating: int, now) -> str | None:
        """A rating of the planned meal `eaten` (what `eaten` returned), the answer to "how was it?"; None when
        that meal is no longer in the plan in use (re-planned, or a newer plan)."""
        current, catalogue = self._current(user, now), self.catalogue.get()
        if current is None or catalogue is None or current.record.id != eaten["plan_id"]:
            return None
        key = (eaten["day"], eaten["slot"])
        meal = current.plan.meals().get(key)
        if meal is None or meal.recipe_id != eaten["recipe_id"]:
            return None
        return self._rate_meal(user, current, catalogue, key, rating, now)

    def eaten(self, user, foods, now) -> dict | None:
        """The meal of today's plan that a logged meal of `foods` ((name, display name) each) is, now the meal in
        question ("rate 4" is about it), with what it teaches; None when it is none of them (`bot.plans.eaten`)."""
        if not foods:
            return None
        current, catalogue = self._current(user, now), self.catalogue.get()
        if current is None or catalogue is None:
            return None
        recipes = {p.recipe.id: p.recipe for p in catalogue.recipes}
        skipped = {(d, s) for d, s in current.record.request["skip"]}
        candidates = [
            (key, recipes[meal.recipe_id])
            for key, meal in current.plan.meals().items()
            if key[0] == current.today and key not in skipped and meal.recipe_id in recipes
        ]
        key = best_meal(foods, candidates, int(period_keys(now, user.timezone)["hour"][-2:]))
        if key is None:
            return None
        meal = current.plan.meals()[key]
        self.store.update_plan(current.record.id, now, shown={"day": key[0], "slot": key[1]})
        eaten = {"plan_id": current.record.id, "day": key[0], "slot": key[1], "recipe_id": meal.recipe_id}
        return {**eaten, "name": meal.name, "dish": self._dish(meal.recipe_id, catalogue)}

    def _rate_last_meal(self, user, intent, now) -> PlanTurn | None:
        """A rating with no planned meal in question is for the last meal logged; None when there is none."""
        meal = self.store.last_meal(user.id)
        if meal is None or not meal.items:
            return None
        names = list(dict.fromkeys(item.display_name for item in meal.items))
        self.learning.rated_foods(user.id, names, intent.rating, now)
        return PlanTurn((f"Thanks: your last meal ({', '.join(names)}) rated {intent.rating}/5.",), "meal_rating")

    def dish_in_question(self, user, now) -> dict | None:
        """The planned dish the person last looked at or ate ({cuisine, foods, spice}); None without one."""
        current, catalogue = self._current(user, now), self.catalogue.get()
        if current is None or catalogue is None:
            return None
        meals = current.plan.meals()
        key = self._rated_meal(current, PlanIntent("rate"), meals, now, user)
        return self._dish(meals[key].recipe_id, catalogue) if key in meals else None

    def _rated_meal(self, current: Current, intent: PlanIntent, meals, now, user) -> tuple[int, str] | None:
        """The meal a rating is for: the one named, else the one last looked at, else the last one eaten."""
        if intent.day is not None or intent.slot is not None:
            index = self._index(current, intent.day)
            if index is None:
                return None
            day_slots = [s for d, s in meals if d == index]
            return (index, intent.slot or ("dinner" if "dinner" in day_slots else (day_slots or [None])[-1]))
        if current.record.shown:
            return current.record.shown["day"], current.record.shown["slot"]
        hour = int(period_keys(now, user.timezone)["hour"][-2:])
        eaten = [k for k in meals if k[0] < current.today or (k[0] == current.today and SLOT_HOURS[k[1]] <= hour)]
        return max(eaten, key=lambda k: (k[0], SLOT_HOURS[k[1]]), default=None)

    # shopping
    def _shopping(self, user, profile, intent, now, whatsapp) -> PlanTurn:
        got = self._in_use(user, profile, now)
        if isinstance(got, PlanTurn):
            return got
        current, catalogue = got
        listing = shopping_list(current.plan, catalogue.recipes, catalogue.prices, current.record.have)
        links = self.grocery.links(user.id, current.record.id, listing.lines, now)
        if intent.name == "links":
            return PlanTurn((current.note + wording.links_text(links),), "grocery_links")
        texts = wording.shopping_texts(listing, current.record.have, links, whatsapp)
        return PlanTurn((current.note + texts[0], *texts[1:]), "shopping_list")

    def _have(self, user, profile, intent, now, whatsapp) -> PlanTurn | None:
        current = self._current(user, now)
        if current is None:
            return None  # "i have 2 eggs" without a plan may be a meal
        have = tuple(dict.fromkeys([*current.record.have, *intent.words]))
        self.store.update_plan(current.record.id, now, have=have)
        return self._shopping(user, profile, replace(intent, name="shopping"), now, whatsapp)
