"""Personalization end to end through the bot's ASGI app (uvicorn on 127.0.0.1, signed Twilio webhooks, the
model server's LOCAL STAND-IN): each signal parsed and stored, "what do you know about me", resets, a rating
with no plan, portions learned from corrections and applied to the next photo, export and delete."""

import json
import math
from datetime import timedelta

import pytest

from bot.chat_text import item_line
from bot.personal.intents import parse
from bot.storage.records import utcnow
from nutrition.personalization.preferences import PORTION_SHRINK, UserPreferences


@pytest.fixture
def personal_bot(make_bot, usda_tables_dir, repo_root):
    return make_bot(nutrition_dir=usda_tables_dir, recipes_dir=repo_root / "data" / "recipes", coach="local")


def say(bot, body: str) -> str:
    (reply,) = bot.send(body)
    return reply


def photo(bot) -> str:
    (reply,) = bot.send_photo()
    return reply


def learned(bot) -> UserPreferences:
    return UserPreferences.from_dict(bot.store.personal_preferences(bot.user_id()))


def onboard(bot, allergies: str = "none") -> None:
    for said in ("hi", allergies, "eat better"):
        say(bot, said)


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("What do you know about me?", "known"),
        ("wat do you know abot me", "known"),
        ("forget my cuisines", "reset"),
        ("reset spcie", "reset"),
        ("reset my portions", "reset"),
        ("swap quinoa for rice", "substitute"),
        ("i used rice instead of quinoa", "substitute"),
        ("that was way too spicy", "too_spicy"),
        ("i only have 20 minutes to cook", "cooking_minutes"),
        ("rice", None),  # a food answer, never a command
        ("spice", None),
        ("remove the bread", None),  # a correction
        ("swap tuesday dinner", None),  # the plan's own swap
        ("swap tuesday dinner for something else", None),
        ("change my goal to lose weight", None),
        ("delete my data", None),
        ("forget me", None),
    ],
)
def test_what_each_message_means(said, name):
    intent = parse(said)
    assert (intent.name if intent else None) == name


def test_each_signal_is_stored_shown_and_reset(personal_bot):
    bot = personal_bot
    onboard(bot)
    assert "Apple" in photo(bot)
    assert learned(bot).counts["meals_logged"] == 1 and learned(bot).meal_times  # the photo's local time
    rated = say(bot, "rate 4")  # no plan: the last meal logged
    assert rated == "Thanks: your last meal (Apple, Banana) rated 4/5." and learned(bot).counts["ratings"] == 1
    say(bot, "i don't like mushrooms")
    assert learned(bot).disliked["mushrooms"].source == "said"
    assert "Noted" in say(bot, "too spicy") and learned(bot).spice_tolerance is not None
    assert "20 minutes" in say(bot, "i only have 20 minutes to cook")
    assert learned(bot).cooking_minutes.value == 20
    swapped = say(bot, "swap quinoa for rice")
    assert (
        swapped.startswith("OK, rice instead of quinoa.") and learned(bot).disliked["quinoa"].source == "substitutions"
    )
    say(bot, "2 eggs")  # a typed meal is logged too
    assert learned(bot).counts["meals_logged"] == 2
    before = bot.store.personal_preferences(bot.user_id())
    assert "rice" in say(bot, "rice").lower()  # a food, asked about as a meal: nothing learned or forgotten
    assert bot.store.personal_preferences(bot.user_id()) == before

    known = say(bot, "what do you know about me?")
    assert known.startswith("*What I know about you*") and "Goal: eat better" in known
    assert "mushrooms (sure, you said)" in known and "quinoa (" in known and "your swaps)" in known
    assert "Cooking time: 20 minutes at most (sure, you said)" in known and "Spice: up to" in known
    assert "Meal times: " in known and "your logs" in known and "no mushrooms, quinoa" in known

    assert say(bot, "reset spice").startswith("Done: I've forgotten your spice level.")
    assert learned(bot).spice_tolerance is None and learned(bot).cooking_minutes is not None
    say(bot, "forget my dislikes")
    assert learned(bot).disliked == {} and "dislikes" not in bot.store.meal_preferences(bot.user_id())
    assert "Foods you don't like" not in say(bot, "what do you know about me")


def test_portions_learned_from_corrections_shrink_and_apply_to_the_next_photo(personal_bot):
    bot = personal_bot
    onboard(bot)
    first = photo(bot)
    assert first.startswith("Apple ~180 g") and "usual portions" not in first
    say(bot, "the apple was 360 g")  # one odd correction: twice the model's grams
    bias = learned(bot).portions["apple"]
    assert (bias.n, bias.log_sum) == (1, pytest.approx(math.log(2)))
    factor = 2 ** (1 / (1 + PORTION_SHRINK))  # shrunk: one correction against PORTION_SHRINK of "no bias" (in log)
    assert factor < 1.3  # one odd correction of 2x moves the next photo's grams a little
    second = photo(bot)
    apple_line = item_line(next(i for i in bot.store.last_meal(bot.user_id()).items if i.name == "apple"), True)
    assert second.startswith(apple_line) and "adjusted for your usual portions" in second
    model = bot.store.labelled_examples(bot.user_id())[0]["model_output"]  # the first photo's apple, as the model said
    apple = next(i for i in bot.store.last_meal(bot.user_id()).items if i.name == "apple")
    assert apple.grams == pytest.approx(180 * factor)  # the range, energy and macros scale with the grams
    for key in ("grams_low", "grams_high", "kcal", "protein_g", "fat_g", "carbs_g"):
        assert getattr(apple, key) == pytest.approx(model[key] * factor), key
    # a correction of the adjusted grams is learned against the model's own 180 g
    say(bot, "the apple was 200 g")
    bias = learned(bot).portions["apple"]
    assert bias.n == 2 and bias.log_sum == pytest.approx(math.log(2) + math.log(200 / 180))
    say(bot, "the apple was 210 g")  # the same item again: it teaches once
    assert learned(bot).portions["apple"].n == 2
    say(bot, "reset my portions")
    assert learned(bot).portions == {} and "usual portions" not in photo(bot)


def test_export_and_delete_include_preferences(personal_bot):
    bot = personal_bot
    onboard(bot)
    say(bot, "i only have 30 minutes to cook")
    exported = json.loads("".join(bot.send("export my data")))
    (row,) = exported["personal_preferences"]
    assert row["values"]["cooking_minutes"]["value"] == 30
    say(bot, "delete my data")
    say(bot, "yes delete")
    assert bot.store.personal_preferences(bot.user_id()) == {}


def test_one_preference_question_a_day_and_none_while_correcting(personal_bot):
    bot = personal_bot
    onboard(bot)
    uid = bot.user_id()
    profile = dict(sex="female", age_years=34.0, height_cm=165.0, weight_kg=60.0, activity="light")
    bot.store.update_profile(uid, utcnow(), **profile)
    bot.store.set_timezone(uid, "UTC", "person", utcnow())  # told, so the time zone is not asked either
    bot.store.set_personal_preferences(uid, {}, utcnow() - timedelta(days=10))  # known for 10 days: discovery
    logged = photo(bot)
    assert logged.splitlines()[-1].startswith("Any foods you'd rather not see in your meals?")
    assert bot.store.get_profile(uid).asking == "pref_dislikes"
    assert say(bot, "olives and blue cheese") == "Noted: no olives, blue cheese in your meal plans."
    assert learned(bot).disliked["blue cheese"].source == "said"
    assert "?" not in say(bot, "2 eggs").splitlines()[-1]  # one question a day in all

    bot.store.update_profile(uid, utcnow(), asked={})  # a new day as far as questions go
    corrected = say(bot, "it was 3 eggs")
    assert "?" not in corrected  # correcting: nothing asked
    asked = say(bot, "a banana").splitlines()[-1]
    assert asked == "Which cuisines do you enjoy most? (e.g. Indian, Italian, Mexican)"
    assert say(bot, "thai and indian, not japanese") == "Noted: Indian, Thai."
    cuisines = learned(bot).cuisines
    assert cuisines["thai"].source == "said" and float(cuisines["japanese"].value) < 0


def test_only_dislikes_sure_enough_to_be_rules_are_called_dislikes():
    from bot.personal.wording import learned_lines
    from nutrition.personalization import signals

    now = utcnow()
    prefs = signals.disliked(UserPreferences.empty(), "olives", now)
    foods = ["chicken breast", "onions", "garlic", "olive oil", "tomatoes", "cumin", "rice", "cilantro"]
    prefs = signals.rated(prefs, cuisine="indian", foods=foods, spice=1, rating=1, at=now)  # one poor dinner
    shown = "\n".join(learned_lines(prefs))
    assert "Foods you don't like: olives (sure, you said)" in shown
    assert not any(food in shown.split("Foods you don't like:")[1].split("\n")[0] for food in foods)
