"""What a logged meal teaches beyond its time: cuisine evidence from its foods, a planned meal kept (`planned`),
"How was it? (1-5)" asked once about it and its answer taken as that planned meal's rating, a swapped planned meal
learned against, and the learned meal times readable for reminders. End to end through the bot's ASGI app where
a plan is involved; the question's rules on the real SQLite store."""

from datetime import timedelta

import pytest

from bot.ledger import period_keys
from bot.personal.eaten import EATEN, RATE_ASKING, EatenMeals, rating_of
from bot.personal.service import Learning
from bot.personal.timing import MealTime, learned_meal_times
from bot.plans.eaten import best_meal, match_score
from bot.storage.records import utcnow
from bot.storage.sql.store import SqlStore
from nutrition.personalization.cuisines import cuisine_of_foods
from nutrition.personalization.preferences import UserPreferences
from nutrition.planning.recipes import load_recipes

BREAKFAST = "scrambled-eggs-toast-spinach"  # main ingredients: eggs, whole wheat bread, tomatoes
TYPED = "150 g eggs and 70 g whole wheat bread"  # two of them, as the small USDA table of the tests reads them


@pytest.fixture
def plans_bot(make_bot, usda_tables_dir, repo_root):
    return make_bot(
        nutrition_dir=usda_tables_dir, recipes_dir=repo_root / "data" / "recipes", coach="local", reply_budget_s=12.0
    )


@pytest.fixture(scope="module")
def recipes(repo_root):
    return {r.id: r for r in load_recipes(repo_root / "data" / "recipes")}


@pytest.fixture
def store(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    yield store
    store.dispose()


def say(bot, body: str) -> str:
    (reply,) = bot.send(body)
    return reply


def learned(bot) -> UserPreferences:
    return UserPreferences.from_dict(bot.store.personal_preferences(bot.user_id()))


@pytest.mark.parametrize(
    ("said", "rating"),
    [
        ("4", 4),
        ("4/5", 4),
        ("5 stars", 5),
        ("rate 2", 2),
        ("Loved it!", 5),
        ("meh", 3),
        ("it was great", 5),
        ("didn't like it", 2),
        ("3 it's ok", 3),
        ("hated it", 1),
        ("it was 150 g", None),  # a correction, not a rating
        ("6", None),
        ("2 eggs", None),  # a meal
        ("what do you know about me", None),
    ],
)
def test_a_reply_to_how_was_it_reads_as_a_rating(said, rating):
    assert rating_of(said) == rating


def test_cuisine_evidence_from_foods():
    assert cuisine_of_foods(["Tortillas, ready-to-bake, corn", "Beans, refried"]) == "mexican"
    assert cuisine_of_foods(["Pasta, cooked", "Cheese, parmesan, grated"]) == "italian"
    assert cuisine_of_foods(["Thai green curry"]) == "thai"  # thai and curry: thai 2, indian 1
    assert cuisine_of_foods(["Rice, white", "Chicken breast"]) is None  # eaten everywhere: no evidence
    assert cuisine_of_foods(["feta", "pita"]) is None  # a tie says nothing
    assert cuisine_of_foods(["olive oil"]) is None  # olives are not listed: olive oil is in everything
    assert cuisine_of_foods([]) is None


def test_a_logged_meal_matches_the_planned_recipe_it_is(recipes):
    eggs = recipes[BREAKFAST]
    typed = [("01123", "Egg"), ("18075", "Whole-wheat bread")]
    assert match_score(typed, eggs) == 2
    assert match_score([("01123", "Egg")], eggs) == 0  # one of its three main ingredients is not the dish
    by_words = [("x", "Eggs"), ("y", "Wholemeal bread")]  # a photo's names: words of the shopping items
    assert match_score(by_words, eggs) == 2
    other = next(r for r in recipes.values() if "lunch" in r.slots and match_score(typed, r) == 0)
    assert best_meal(typed, [((0, "lunch"), other), ((0, "breakfast"), eggs)], hour=8) == (0, "breakfast")
    assert best_meal(typed, [((0, "lunch"), other)], hour=13) is None


def put_breakfast(bot, recipes, slot: str = "breakfast", recipe_id: str = BREAKFAST, others: str | None = None) -> None:
    """Make today's `slot` of the plan in use the `recipe_id` recipe (the rest as planned, or all `others`: a
    planned lunch of lentil soup with whole-wheat bread also matches TYPED, and the hour of the day decides)."""
    record = bot.store.latest_plan(bot.user_id())
    plan = record.plan
    meals = plan["days"][0]["meals"]
    for other in meals if others else ():
        other.update(recipe_id=others, name=recipes[others].name)
    meal = next(m for m in meals if m["slot"] == slot)
    meal.update(recipe_id=recipe_id, name=recipes[recipe_id].name)
    bot.store.update_plan(record.id, utcnow(), plan=plan)


def onboarded(bot) -> int:
    for said in ("hi", "none", "eat better"):
        say(bot, said)
    uid = bot.user_id()
    bot.store.update_profile(uid, utcnow(), sex="female", age_years=34.0, height_cm=165.0, weight_kg=60.0)
    bot.store.update_profile(uid, utcnow(), activity="light")
    bot.store.set_timezone(uid, "UTC", "person", utcnow())  # told: nothing left for onboarding to ask
    return uid


def test_a_photo_of_a_planned_meal_is_kept_and_asked_about(plans_bot, recipes):
    bot = plans_bot
    uid = onboarded(bot)
    say(bot, "plan 3 days")
    put_breakfast(bot, recipes, "snack", "banana-almonds")  # the photo stand-in always sees an apple and a banana
    (reply,) = bot.send_photo()
    assert reply.splitlines()[-1].startswith("How was the ")
    assert learned(bot).counts["plans_kept"] == 1
    assert bot.store.latest_plan(uid).shown["slot"] == "snack"
    assert say(bot, "meh").startswith(f"Thanks: {recipes['banana-almonds'].name} (")
    (rating,) = bot.store.plan_ratings(uid)
    assert (rating.recipe_id, rating.rating) == ("banana-almonds", 3)


def test_a_planned_meal_logged_is_kept_asked_about_once_and_rated(plans_bot, recipes):
    bot = plans_bot
    uid = onboarded(bot)
    say(bot, "plan 3 days")
    put_breakfast(bot, recipes, others="banana-almonds")

    logged = say(bot, TYPED)
    name = recipes[BREAKFAST].name
    assert logged.splitlines()[-1].startswith(f"How was the {name[0].lower() + name[1:]}? (1-5")
    prefs = learned(bot)
    assert prefs.counts["plans_kept"] == 1 and prefs.counts["meals_logged"] == 1
    cuisine = recipes[BREAKFAST].cuisine
    assert prefs.cuisines[cuisine].source == "plans" and float(prefs.cuisines[cuisine].value) > 0
    assert bot.store.get_profile(uid).asking == RATE_ASKING
    assert bot.store.latest_plan(uid).shown == {"day": 0, "slot": "breakfast"}  # "rate 4" is about it too

    assert say(bot, "loved it").startswith(f"Thanks: {name} (")
    (rating,) = bot.store.plan_ratings(uid)
    assert (rating.recipe_id, rating.rating, rating.slot) == (BREAKFAST, 5, "breakfast")
    prefs = learned(bot)
    assert prefs.counts["ratings"] == 1 and prefs.cuisines[cuisine].source == "ratings"
    assert bot.store.get_profile(uid).asking is None

    again = say(bot, TYPED)  # the same planned meal logged again: nothing more learned, nothing asked
    assert "How was" not in again and learned(bot).counts["plans_kept"] == 1
    assert "Thanks" not in say(bot, "4")  # no question waiting: a bare number is no rating


def test_how_was_it_is_dropped_by_a_correction(plans_bot, recipes):
    bot = plans_bot
    uid = onboarded(bot)
    say(bot, "plan 3 days")
    put_breakfast(bot, recipes, others="banana-almonds")
    assert "How was" in say(bot, TYPED)
    fixed = say(bot, "the egg was 100 g")  # correcting, not answering: read as the correction it is
    assert fixed.startswith("Fixed:") and bot.store.get_profile(uid).asking is None
    assert bot.store.plan_ratings(uid) == [] and "ratings" not in learned(bot).counts
    assert say(bot, "rate 2").endswith("breakfast) rated 2/5.")  # "rate 4" after a planned meal logged: that one
    (rating,) = bot.store.plan_ratings(uid)
    assert rating.recipe_id == BREAKFAST and learned(bot).counts["ratings"] == 1


def test_a_swapped_planned_meal_is_learned_against(plans_bot):
    bot = plans_bot
    for said in ("hi", "none", "eat better"):
        say(bot, said)
    say(bot, "plan 3 days")
    say(bot, "swap day 1 dinner")
    assert learned(bot).counts["plans_swapped"] == 1


class _Plans:
    """The plan wing's answer for one planned meal, as `PlanService.eaten` gives it (the e2e tests use the real one)."""

    def __init__(self, eaten):
        self.given = eaten

    def eaten(self, user, foods, now):
        return dict(self.given) if foods else None

    def rate_eaten(self, user, eaten, rating, now):
        return f"rated {rating}"


def test_how_was_it_never_while_another_question_waits_and_once_a_day(store):
    user = store.get_or_create_user("+15550011", "free", "UTC")
    now = utcnow()
    dish = {"cuisine": "thai", "foods": ["rice noodles"], "spice": 1}
    plans = _Plans(
        {"plan_id": 1, "day": 0, "slot": "dinner", "recipe_id": "pad-thai", "name": "Pad thai", "dish": dish}
    )
    eaten = EatenMeals(store, plans)
    meal = eaten.planned(user, [("x", "rice noodles")], now)
    assert Learning(store).get(user.id).counts["plans_kept"] == 1
    store.set_clarification(user.id, "grams", {"food": "rice"}, now)
    assert eaten.ask(user, meal, now) is None  # answering a typed meal's question
    store.clear_clarification(user.id)
    store.update_profile(user.id, now, asking="pref_spice")
    assert eaten.ask(user, meal, now) is None  # another question waits
    store.update_profile(user.id, now, asking=None)
    day = period_keys(now, "UTC")["day"]
    asked = store.get_profile(user.id).asked
    store.update_profile(user.id, now, asked={**asked, "_day": day})
    assert eaten.ask(user, meal, now) is None  # today's one question was asked already
    store.update_profile(user.id, now, asked={**asked, "_day": "2000-01-01"})
    assert eaten.ask(user, meal, now) == 'How was the pad thai? (1-5, or e.g. "loved it")'
    assert store.get_profile(user.id).asked[EATEN]["asked"] is True
    assert eaten.answer(user, "4", now) == "rated 4"
    store.update_profile(user.id, now, asked={**store.get_profile(user.id).asked, "_day": "2000-01-01"})
    assert eaten.ask(user, meal, now) is None  # once per planned meal
    assert eaten.planned(user, [("x", "rice noodles")], now) is None  # the same meal again teaches nothing
    assert Learning(store).get(user.id).counts["plans_kept"] == 1


def test_cuisine_learned_from_a_logged_meal_and_meal_times_readable(store):
    user = store.get_or_create_user("+15550012", "free", "America/New_York")
    assert learned_meal_times(store, user.id) == {}
    learning = Learning(store)
    lunch = utcnow().replace(hour=17, minute=30, second=0, microsecond=0)  # 12:30 or 13:30 in New York
    for day in range(3):
        learning.meal_logged(user, lunch + timedelta(days=day), foods=["Tortillas, corn", "Salsa, ready-to-serve"])
    prefs = learning.get(user.id)
    assert prefs.cuisines["mexican"].source == "logs" and float(prefs.cuisines["mexican"].value) > 0
    learning.meal_logged(user, lunch + timedelta(days=3), foods=["Rice, white"])  # no evidence: no cuisine moved
    assert set(learning.get(user.id).cuisines) == {"mexican"}
    times = learned_meal_times(store, user.id)
    (slot,) = times
    assert slot == "lunch" and isinstance(times[slot], MealTime)
    assert times[slot].at.minute == 30 and times[slot].at.hour in (12, 13)
    assert times[slot].confidence == pytest.approx(4 / 7, abs=1e-3)  # n / (n + 3) after 4 meals
    assert learned_meal_times(store, user.id, min_confidence=0.6) == {}
    store.set_personal_preferences(user.id, {"version": 99}, utcnow())
    assert learned_meal_times(store, user.id) == {}  # unreadable: none, and logged
