"""What people type about plans, read into intents (and what is left to the rest of the conversation), and the
plan's messages: one Twilio message each, GSM-7 on SMS, every planned meal named."""

from datetime import date
from types import SimpleNamespace

import pytest

from bot.chat_text import GSM7_BASIC, GSM7_EXTENSION, MAX_CHARS
from bot.plans import wording
from bot.plans.intents import DayRef, parse
from nutrition.allergens import Allergies
from nutrition.planning.planner import PlanRequest, plan_week
from nutrition.planning.recipes import load_prices, load_recipes, price_recipes
from nutrition.targets import daily_targets

READ = [
    ("plan my week", "plan", {"days": 7, "slots": ("breakfast", "lunch", "dinner", "snack"), "leftovers": False}),
    ("Plan meals for this week", "plan", {"days": 7}),
    ("plan 3 days", "plan", {"days": 3}),
    ("plan three days dinners only", "plan", {"days": 3, "slots": ("dinner",)}),
    ("plan my week with leftovers", "plan", {"leftovers": True}),
    ("day 2", "show", {"day": DayRef(index=1)}),
    ("Tuesday", "show", {"day": DayRef(weekday=1)}),
    ("show plan", "show", {"day": None, "slot": None}),
    ("what's for dinner tomorrow?", "show", {"day": DayRef(offset=1), "slot": "dinner"}),
    ("swap Tuesday's dinner", "swap", {"day": DayRef(weekday=1), "slot": "dinner"}),
    ("change day 3 lunch", "swap", {"day": DayRef(index=2), "slot": "lunch"}),
    ("no fish", "dislike", {"words": ("fish",), "explicit": False}),
    ("No more fish!", "dislike", {"words": ("fish",), "explicit": True}),
    ("i don't like mushrooms or olives", "dislike", {"words": ("mushrooms", "olives")}),
    ("I ate out on Friday", "ate_out", {"day": DayRef(weekday=4), "slot": None}),
    ("eating out tonight", "ate_out", {"day": DayRef(offset=0), "slot": "dinner"}),
    ("skip sat lunch", "ate_out", {"day": DayRef(weekday=5), "slot": "lunch"}),
    ("Shopping list", "shopping", {}),
    ("shoping lst", "shopping", {}),
    ("order groceries", "links", {}),
    ("links", "links", {}),
    ("I have rice and 2 eggs", "have", {"words": ("rice", "eggs")}),
    ("rate 4", "rate", {"rating": 4, "day": None}),
    ("that was a 4", "rate", {"rating": 4}),
    ("5 stars", "rate", {"rating": 5}),
    ("rate tuesday dinner 2", "rate", {"rating": 2, "day": DayRef(weekday=1), "slot": "dinner"}),
    ("budget 50", "budget", {"budget": 50.0}),
    ("my budget is $42.50 a week", "budget", {"budget": 42.5}),
    ("budget tight", "budget", {"budget": "tight"}),
    ("no budget", "budget", {"budget": "generous"}),
    ("clear dislikes", "reset_dislikes", {}),
]
LEFT_TO_THE_CONVERSATION = [
    "today",  # the day's totals
    "help",
    "plan to eat less",
    "plan 10 days",
    "change my goal",
    "no thanks",
    "no",
    "2 eggs and a slice of toast",
    "that was a pear",
    "remove the toast",
    "i eat out a lot",
    "what can you do",
    "export my data",
]


@pytest.mark.parametrize(("said", "name", "fields"), READ)
def test_what_people_type_about_plans(said, name, fields):
    intent = parse(said)
    assert intent is not None and intent.name == name
    assert {key: getattr(intent, key) for key in fields} == fields


@pytest.mark.parametrize("said", LEFT_TO_THE_CONVERSATION)
def test_what_is_not_about_plans_is_left_alone(said):
    assert parse(said) is None


@pytest.fixture(scope="module")
def week(usda_table, repo_root):
    recipes = repo_root / "data" / "recipes"
    catalogue = price_recipes(load_recipes(recipes), usda_table, load_prices(recipes / "prices.csv"))
    request = PlanRequest(daily_targets(None, None), Allergies(frozenset({"peanut"})), budget_usd_per_week=60.0)
    return plan_week(request, catalogue)


@pytest.mark.parametrize("whatsapp", [True, False], ids=["whatsapp", "sms"])
def test_the_plan_fits_one_message_per_view_and_sms_stays_gsm7(week, whatsapp):
    start = date(2026, 11, 24)
    texts = [wording.summary(week, start, whatsapp)] + [wording.day_text(week, i, start, whatsapp) for i in range(7)]
    assert all(len(text) <= MAX_CHARS and not text.endswith("...") for text in texts)
    for index, day in enumerate(week.days):
        assert all(meal.name in texts[1 + index] for meal in day.meals)
    assert texts[0].count("\nDay ") == 7 and "Day 1 Tue:" in texts[0] and "Day 7 Mon:" in texts[0]
    assert f"${week.cost_usd:,.2f}" in texts[0] and "(budget $60 a week)" in texts[0]
    if not whatsapp:
        assert all(c in GSM7_BASIC or c in GSM7_EXTENSION for text in texts for c in text)
        assert "*" not in texts[0]


def test_a_long_list_takes_more_messages_and_cuts_no_line():
    lines = [
        SimpleNamespace(item=f"item number {n}", aisle=f"Aisle {n % 9}", grams=900.0, packs=2, pack_label="500 g bag")
        for n in range(80)
    ]
    links = [("instacart", "https://bot.example.test/r/" + "a" * 22), ("amazon_fresh", "https://b.test/r/" + "b" * 22)]
    texts = wording.shopping_texts(
        SimpleNamespace(lines=lines, total_usd=240.0, used_usd=239.5), ("rice",), links, True
    )
    assert len(texts) == 2 and all(len(text) <= MAX_CHARS for text in texts)
    assert texts[0].startswith("*Shopping list, about $240.00*") and "..." not in "".join(texts)
    assert all(f"item number {n} 2 x 500 g bag" in "".join(texts) for n in range(80))
    order = ["Order it online:", f"Instacart: {links[0][1]}", f"Amazon Fresh: {links[1][1]}"]
    assert texts[-1].splitlines()[-3:] == order and "You have (left off): rice" in texts[-1]
    (short,) = wording.shopping_texts(SimpleNamespace(lines=lines[:3], total_usd=9.0, used_usd=4.2), (), links, False)
    assert short.splitlines()[-3:] == order and "Aisle 1: item number 1 2 x 500 g bag" in short
    assert "these meals use about $4.20 of them" in short.splitlines()[1]  # whole packs cost more than a week eats
    assert "meals use" not in texts[0]  # under a dollar apart: nothing to explain
