"""Personalization with a meal plan, end to end through the bot's ASGI app: a planned meal's rating teaches its
cuisine and foods, "swap X for Y" re-plans without X and never lets an allergen in, "too spicy" uses the planned
dish's spice; meal ideas ranked by what was learned; and the question rules on the store (none while a question
is pending, one a day)."""

from datetime import timedelta

import pytest

from bot.coach.advisor import Advisor, TableSource, allergies_of, targets_of
from bot.devtools.simulate import reply_texts
from bot.ledger import period_keys
from bot.personal.questions import Questions
from bot.personal.service import Learning
from bot.plans.preferences import budget_of, preferences_of
from bot.storage.records import Bucket, utcnow
from bot.storage.sql.store import SqlStore
from nutrition.personalization import signals
from nutrition.personalization.preferences import UserPreferences
from nutrition.planning.checker import check_plan
from nutrition.planning.planner import Plan, PlanRequest
from nutrition.planning.recipes import load_prices, load_recipes, price_recipes
from nutrition.usda_table import Nutrients


@pytest.fixture
def plans_bot(make_bot, usda_tables_dir, repo_root):
    recipes = repo_root / "data" / "recipes"
    return make_bot(nutrition_dir=usda_tables_dir, recipes_dir=recipes, coach="local", reply_budget_s=12.0)


@pytest.fixture
def catalogue(usda_table, repo_root):
    recipes = repo_root / "data" / "recipes"
    return {
        p.recipe.id: p for p in price_recipes(load_recipes(recipes), usda_table, load_prices(recipes / "prices.csv"))
    }


def say(bot, body: str) -> str:
    response = bot.post(bot.form(body), timeout=60)
    assert response.status_code == 200, response.text
    (reply,) = reply_texts(response.text)
    return reply


def learned(bot) -> UserPreferences:
    return UserPreferences.from_dict(bot.store.personal_preferences(bot.user_id()))


def request_now(bot, stored: dict) -> PlanRequest:
    """What the person's plan must keep now: allergies, targets, and preferences said and learned."""
    profile, saved = bot.store.get_profile(bot.user_id()), bot.store.meal_preferences(bot.user_id())
    return PlanRequest(
        targets=targets_of(profile),
        allergies=allergies_of(profile),
        days=stored["days"],
        slots=tuple(stored["slots"]),
        budget_usd_per_week=budget_of(saved, profile),
        preferences=preferences_of(saved, learned(bot)),
        leftovers=stored["leftovers"],
        skip=frozenset((d, s) for d, s in stored["skip"]),
        avoid=frozenset((d, s, r) for d, s, r in stored["avoid"]),
    )


def test_ratings_swaps_and_spice_with_a_plan_never_break_an_allergy(plans_bot, catalogue):
    bot = plans_bot
    for said in ("hi", "peanuts", "eat better"):
        say(bot, said)
    say(bot, "plan 3 days")
    plan = Plan.from_dict(bot.store.latest_plan(bot.user_id()).plan)
    dinner = plan.meals()[(0, "dinner")]
    say(bot, "day 1 dinner")  # looked at: what "rate 4" and "too spicy" are about
    assert say(bot, "rate 5").endswith("rated 5/5.")
    recipe = catalogue[dinner.recipe_id].recipe
    assert float(learned(bot).cuisines[recipe.cuisine].value) > 0 and learned(bot).counts["ratings"] == 1

    spicy = say(bot, "too spicy")
    tolerance = learned(bot).spice_tolerance
    assert tolerance.value == max(0, recipe.spice - 1) if recipe.spice else tolerance.value == 1
    record = bot.store.latest_plan(bot.user_id())  # the plan in use re-planned where it is now too hot
    assert check_plan(Plan.from_dict(record.plan), request_now(bot, record.request), list(catalogue.values())) == []
    assert spicy.startswith("Noted: I'll keep your meals milder") and ("Re-planned" in spicy or "next plan" in spicy)
    quick = say(bot, "i only have 30 minutes to cook")
    record = bot.store.latest_plan(bot.user_id())
    plan = Plan.from_dict(record.plan)
    if "couldn't" not in quick:
        assert all(catalogue[m.recipe_id].recipe.minutes <= 30 for m in plan.meals().values())

    # swap a food of the plan for one the person is allergic to: the food goes, the allergen stays out
    planned_items = {i.item for m in plan.meals().values() for i in catalogue[m.recipe_id].recipe.ingredients}
    removed = next(item for item in sorted(planned_items) if item in ("onions", "garlic", "rice", "eggs", "milk"))
    swapped = say(bot, f"swap {removed} for peanut butter")
    assert swapped.startswith(f"OK, peanut butter instead of {removed}.")
    assert removed in bot.store.meal_preferences(bot.user_id())["dislikes"]
    record = bot.store.latest_plan(bot.user_id())
    plan = Plan.from_dict(record.plan)
    assert check_plan(plan, request_now(bot, record.request), list(catalogue.values())) == []
    assert not any("peanut" in catalogue[m.recipe_id].allergens for m in plan.meals().values())
    assert "peanut butter" not in learned(bot).disliked  # liked, and still never planned: allergies are hard


def test_no_preference_question_while_another_is_pending(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    try:
        user = store.get_or_create_user("+15550009", "free", "UTC")
        now = utcnow()
        store.set_personal_preferences(user.id, {}, now - timedelta(days=10))
        store.add_usage(user.id, [Bucket("day", period_keys(now, "UTC")["day"])], {"messages": 5})
        questions = Questions(store)
        assert questions.stage(user, now) == "discovery"
        store.set_clarification(user.id, "grams", {"food": "rice"}, now)
        day = period_keys(now, "UTC")["day"]
        assert questions.ask(user, store.get_profile(user.id), day, now) is None  # answering another question
        store.clear_clarification(user.id)
        assert questions.ask(user, store.get_profile(user.id), day, now) is not None
        assert questions.ask(user, store.get_profile(user.id), day, now) is None  # one a day
    finally:
        store.dispose()


def test_meal_ideas_put_a_learned_dislike_last(tmp_path, usda_table):
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    try:
        user = store.get_or_create_user("+15550009", "free", "UTC")
        profile = store.update_profile(user.id, utcnow(), allergies_known=True, goal="maintain")
        tables = TableSource(tmp_path, usda_table)
        left = Nutrients(1200.0, 60.0, 40.0, 150.0)
        plain = Advisor(None, tables).options(profile, left)
        learning = Learning(store)
        assert Advisor(None, tables, learning).options(profile, left) == plain  # nothing learned: the same ideas
        word = plain[0].ingredients[0].description.split(",")[0].lower()
        learning.learn(user.id, utcnow(), signals.disliked, word)
        ranked = Advisor(None, tables, learning).options(profile, left)
        assert ranked[0] != plain[0] and len(ranked) == len(plain)
        assert all(word not in i.description.lower() for i in ranked[0].ingredients)
    finally:
        store.dispose()
