"""Answers to the one preference question a day, read on a real SQLite store: each field's answer learned as
said, the plan budget set with it, and a message that is no answer dropping the question."""

import pytest

from bot.personal.questions import Questions
from bot.storage.records import utcnow
from bot.storage.sql.store import SqlStore
from nutrition.personalization.preferences import UserPreferences


@pytest.fixture
def store(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    yield store
    store.dispose()


@pytest.mark.parametrize(
    ("field", "said", "reply", "learned"),
    [
        ("spice", "Mild", "Noted: mild at most.", lambda p: p.spice_tolerance.value == 1),
        ("spice", "the hotter the better!", "Noted: hot at most.", lambda p: p.spice_tolerance.value == 3),
        (
            "cooking_time",
            "about 25 minutes",
            "Noted: recipes of 25 minutes at most.",
            lambda p: p.cooking_minutes.value == 25,
        ),
        ("cooking_skill", "beginner", "Noted: basic cooking.", lambda p: p.cooking_skill.value == "basic"),
        (
            "budget",
            "cheap",
            "Noted: a tight budget for your meal plans.",
            lambda p: p.budget_sensitivity.value == "tight",
        ),
        (
            "dislikes",
            "Mushrooms, olives and no cilantro",
            "Noted: no mushrooms, olives, cilantro in your meal plans.",
            lambda p: {"mushrooms", "olives", "cilantro"} <= set(p.disliked) and p.counts["answered_dislikes"] == 1,
        ),
        ("dislikes", "None!", "Noted: nothing to avoid.", lambda p: p.counts["answered_dislikes"] == 1),
        (
            "cuisines",
            "Mexican and Greek",
            "Noted: Mediterranean, Mexican.",
            lambda p: set(p.cuisines) == {"mediterranean", "mexican"},
        ),
    ],
)
def test_each_answer_is_learned_as_said(store, field, said, reply, learned):
    user = store.get_or_create_user("+15550001", "free", "UTC")
    profile = store.update_profile(user.id, utcnow(), asking=f"pref_{field}")
    assert Questions(store).answer(user, profile, said, utcnow()) == reply
    prefs = UserPreferences.from_dict(store.personal_preferences(user.id))
    assert learned(prefs) and store.get_profile(user.id).asking is None
    if field == "budget":
        assert store.meal_preferences(user.id)["budget"] == "tight"  # what the planner reads


def test_a_message_that_is_no_answer_drops_the_question(store):
    user = store.get_or_create_user("+15550001", "free", "UTC")
    profile = store.update_profile(user.id, utcnow(), asking="pref_spice")
    assert Questions(store).answer(user, profile, "2 eggs and toast", utcnow()) is None
    assert store.get_profile(user.id).asking is None and store.personal_preferences(user.id) == {}
