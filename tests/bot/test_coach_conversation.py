"""A whole conversation replayed with `bot.devtools.simulate` (signed like Twilio) through the bot's ASGI app: onboarding,
a photo (LOCAL STAND-IN of the model server), a typed meal, a correction, "today", then privacy commands.
Embedded defaults: SQLite, the local coach, a small real USDA table (tests/usda_subset.json)."""

import json

import pytest
from typer.testing import CliRunner

from bot.calendar.wording import ASK_ZONE
from bot.devtools.simulate import cli

PHONE = "+15550042"


@pytest.fixture
def coach_bot(make_bot, usda_tables_dir):
    return make_bot(nutrition_dir=usda_tables_dir, coach="local")


@pytest.fixture
def say(twilio_env):
    """`say(bot, message, sms=False)`: send it with `bot.devtools.simulate` from PHONE, return the reply text."""

    def send(bot, message: str, sms: bool = False) -> str:
        args = [message, "--from", PHONE, "--url", bot.server.url] + (["--sms"] if sms else [])
        result = CliRunner().invoke(cli, args, env=twilio_env)
        assert result.exit_code == 0, result.output
        print(f"> {message}\n{result.output}")
        return result.output.strip()

    return send


def test_replayed_conversation(coach_bot, say, tmp_path, capsys):
    bot = coach_bot
    hello = say(bot, "Hi")
    assert "Any food allergies" in hello
    goal_q = say(bot, "no nuts or shellfish")
    assert goal_q.startswith("Noted, allergies: crustacean shellfish, tree nuts, peanut.") and "main goal" in goal_q
    goal = say(bot, "Loose wieght")  # typos
    assert goal.splitlines()[:2] == [
        "Goal set: lose weight.",
        "Default target: 1,700 kcal a day (protein 106 g, fat 57 g, carbs 191 g)",
    ]

    photo = tmp_path / "lunch.jpg"
    photo.write_bytes(bot.jpeg())
    lunch = say(bot, str(photo)).splitlines()
    assert lunch[:4] == [
        "Apple ~180 g (150–210 g), 94 kcal",
        "Banana ~120 g (100–140 g), 107 kcal",
        "*Meal: 201 kcal* (protein 2 g, fat 1 g, carbs 53 g)",
        "Today so far: 200 kcal in 1 meal (protein 2 g, fat 1 g, carbs 53 g)",
    ]
    assert lunch[4] == "Left today: 1,500 of 1,700 kcal (default) (protein 104 g, fat 56 g, carbs 138 g)"
    assert lunch[5] == "Next meal ideas:" and lunch[-2].startswith("Tip: ")
    assert lunch[-1] == ASK_ZONE  # +1 555 tells no time zone: asked, the day's one question
    ideas = lunch[6:-2]
    assert 2 <= len(ideas) <= 3 and not any(
        w in " ".join(ideas).lower() for w in ("shrimp", "almond", "walnut", "peanut")
    )

    snack = say(bot, "2 eggs and a slice of toast").splitlines()
    assert snack[:4] == [
        "Egg 88 g, 126 kcal",
        "Toast 22 g, 64 kcal",
        "*Meal: 190 kcal* (protein 13 g, fat 9 g, carbs 13 g)",
        "Today so far: 390 kcal in 2 meals (protein 15 g, fat 10 g, carbs 65 g)",
    ]
    assert "time zone" not in " ".join(snack)  # a meal instead of an answer is logged; the question is not repeated
    assert bot.store.get_user(bot.user_id(PHONE)).timezone == "UTC"  # the default kept

    # "that was a pear" fixes the last meal's least sure item; here the typed meal: both items are sure, the first
    fix = say(bot, "remove the toast").splitlines()
    assert fix == [
        "Removed Toast 22 g (64 kcal) from your last meal.",
        "Today so far: 326 kcal in 2 meals (protein 13 g, fat 9 g, carbs 53 g)",
    ]
    today = say(bot, "today", sms=True).splitlines()
    assert today[:2] == [
        "Today so far: 326 kcal in 2 meals (protein 13 g, fat 9 g, carbs 53 g)",
        "Left today: 1,374 of 1,700 kcal (default) (protein 93 g, fat 48 g, carbs 138 g)",
    ]
    assert all(c.isascii() for c in "\n".join(today))
    assert "I'm 34" not in today

    user_id = bot.user_id(PHONE)
    (example,) = bot.store.labelled_examples(user_id)
    assert example["kind"] == "remove" and example["source"] == "text"
    assert example["model_output"]["display_name"] == "Toast" and example["corrected"] == {"removed": True}


def test_photo_corrections_update_totals_and_keep_labelled_examples(coach_bot):
    bot = coach_bot
    bot.send("none")  # not asked yet: a greeting first
    bot.send("hi")
    bot.send("none")
    bot.send("eat better")
    bot.send_photo()
    (fixed,) = bot.send("that was a pear")  # the stand-in is equally sure of both: the first item
    assert fixed.splitlines()[0] == "Fixed: Apple 180 g -> Pear 180 g, 92 kcal."  # 180 g × 0.90 edible × 57 kcal
    (regram,) = bot.send("the banana was 100 g")
    assert regram.splitlines()[0] == "Fixed: Banana 120 g -> Banana 100 g, 89 kcal."
    meal = bot.store.last_meal(bot.user_id())
    assert [(i.display_name, i.grams) for i in meal.items] == [("Pear", 180), ("Banana", 100)]
    assert bot.store.day_totals(bot.user_id(), meal.day).kcal == pytest.approx(meal.kcal)
    relabel, grams = bot.store.labelled_examples(bot.user_id())
    assert relabel["photo"]["sha256"] and relabel["model_output"]["name"] == "apple"
    assert relabel["model_output"]["models"]["detector"]["name"] == "standin-detector"
    assert relabel["corrected"] == {"label": "pear", "display_name": "Pear", "grams": 180.0}
    assert grams["corrected"]["grams"] == 100.0 and grams["kind"] == "grams"


def test_ambiguous_food_is_asked_back_then_logged(coach_bot):
    bot = coach_bot
    for said in ("hi", "none", "eat better"):  # onboarded, so no question of ours is pending
        bot.send(said)
    (question,) = bot.send("a slice of pizza")
    lines = question.splitlines()
    assert lines[0] == 'Which "pizza" do you mean?' and len(lines) == 5
    assert bot.store.meals(bot.user_id()) == []
    (logged,) = bot.send("2")
    assert logged.startswith("Pizza, cheese topping") or logged.startswith("Pizza")
    (meal,) = bot.store.meals(bot.user_id())
    assert meal.items[0].name != "" and meal.kcal > 0
    (how_much,) = bot.send("quinoa")
    assert how_much.startswith("How much quinoa?")
    (logged,) = bot.send("1 cup")
    assert logged.startswith("Quinoa 185 g, 222 kcal")


def test_commands_profile_targets_export_and_delete(coach_bot):
    bot = coach_bot
    bot.send("hi")
    bot.send("none")
    bot.send("goal: maintain")
    (facts,) = bot.send("I'm 34, male, 172 cm, 80 kg")
    # Mifflin-St Jeor: 10*80 + 6.25*172 - 5*34 + 5 = 1,710 kcal, x1.375 (light, the default activity)
    assert facts.splitlines()[1] == "Your target: 2,351 kcal a day (protein 118 g, fat 78 g, carbs 294 g)"
    (targets,) = bot.send("TARGETS")
    assert "BMR 1710 kcal x 1.375 (light)" in targets
    bot.send("ALLERGIC TO sesame")
    (profile,) = bot.send("profil")
    assert "Allergies: sesame" in profile and "Goal: maintain your weight" in profile and "Age: 34" in profile
    bot.send("2 eggs")
    export = json.loads("".join(bot.send("export my data")))
    assert export["user"]["phone"] == "+15550001" and len(export["meals"]) == 1
    assert export["profile"][0]["allergens"] == ["sesame"] and export["messages"]
    assert bot.send("delete my data") == [
        "This deletes everything I have about you: meals, profile, messages and usage. It can't be undone. "
        'Reply "yes delete" to confirm, anything else to keep your data.'
    ]
    assert bot.send("no wait") == ["OK, I kept your data."]
    assert bot.store.meals(bot.user_id())
    bot.send("delte my data")  # typo
    assert bot.send("yes delete") == [
        "Done: everything I had about you is deleted. Message me any time to start again."
    ]
    with bot.store._tx() as s:
        from bot.storage.sql import tables as t

        for model in (t.User, t.Meal, t.Message, t.Profile, t.Usage, t.DailyTotal):
            assert s.query(model).count() == 0, model
