"""The personalization core: each signal moves the right field and only it, shrinkage keeps one odd portion
correction from swinging the bias, reset and the stored form, the planner's rules (a said dislike is never
dropped; allergies are never part of it), the question rules and the ranking."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from nutrition.personalization import answers, signals
from nutrition.personalization.preferences import (
    PORTION_SHRINK,
    RESETTABLE,
    Learned,
    PortionBias,
    UserPreferences,
    reset,
)
from nutrition.personalization.use import (
    DISLIKE_HARD,
    hard_dislikes,
    next_question,
    planner_preferences,
    portion_factor,
    rank,
    stage,
)
from nutrition.planning.planner import Preferences

AT = dt.datetime(2026, 12, 1, 18, 30, tzinfo=dt.UTC)
EMPTY = UserPreferences.empty()


def changed_fields(before: UserPreferences, after: UserPreferences) -> set[str]:
    return {f.name for f in dataclasses.fields(before) if getattr(before, f.name) != getattr(after, f.name)} - {
        "counts"
    }


def rate(prefs, rating, cuisine="thai", foods=("tofu", "jasmine rice"), spice=None):
    return signals.rated(prefs, cuisine=cuisine, foods=list(foods), spice=spice, rating=rating, at=AT)


def test_a_rating_moves_the_cuisine_and_counts():
    liked = rate(EMPTY, 5)
    assert liked.cuisines["thai"].value == pytest.approx(1.0)
    assert liked.cuisines["thai"].source == "ratings"
    assert liked.counts["ratings"] == 1
    assert rate(EMPTY, 1).cuisines["thai"].value == pytest.approx(-1.0)
    assert rate(EMPTY, 3).cuisines["thai"].value == pytest.approx(0.0)
    # More evidence, more confidence; a mixed record lands between.
    mixed = rate(rate(rate(EMPTY, 5), 5), 2)
    assert 0 < mixed.cuisines["thai"].value < 1
    assert mixed.cuisines["thai"].confidence > liked.cuisines["thai"].confidence
    assert changed_fields(EMPTY, rate(EMPTY, 3)) == {"cuisines"}


def test_one_bad_rating_is_not_a_hard_dislike_but_repeated_ones_build_evidence():
    once = rate(EMPTY, 1, cuisine=None)
    assert 0 < once.disliked["tofu"].confidence < DISLIKE_HARD
    assert planner_preferences(once, {}).dislikes == ()
    often = EMPTY
    for _ in range(10):
        often = rate(often, 1, cuisine=None)
    assert often.disliked["tofu"].confidence >= DISLIKE_HARD
    # A good rating of a dish with the food clears (some of) the evidence.
    cleared = rate(once, 5, cuisine=None)
    assert "tofu" not in cleared.disliked or cleared.disliked["tofu"].confidence < once.disliked["tofu"].confidence


def test_said_and_substituted_dislikes_are_strong():
    said = signals.disliked(EMPTY, " Mushrooms ", AT)
    assert said.disliked["mushrooms"].source == "said"
    assert said.disliked["mushrooms"].confidence >= DISLIKE_HARD
    assert changed_fields(EMPTY, said) == {"disliked"}
    swapped = signals.substituted(EMPTY, removed="quinoa", added="rice", at=AT)
    assert swapped.disliked["quinoa"].confidence >= DISLIKE_HARD
    assert "rice" not in swapped.disliked
    assert swapped.counts["substitutions"] == 1
    # Swapping a suspected food back in clears it, but a said dislike stays until reset.
    suspected = rate(EMPTY, 1, foods=("rice",))
    assert "rice" not in signals.substituted(suspected, removed="quinoa", added="rice", at=AT).disliked or (
        signals.substituted(suspected, removed="quinoa", added="rice", at=AT).disliked["rice"].confidence
        < suspected.disliked["rice"].confidence
    )
    kept = signals.substituted(said, removed="rice", added="mushrooms", at=AT)
    assert kept.disliked["mushrooms"].confidence >= DISLIKE_HARD


def test_a_substitution_never_drops_a_said_dislike_or_touches_allergies():
    said = {"dislikes": ["peanuts", "fish"]}
    prefs = signals.substituted(EMPTY, removed="rice", added="peanuts", at=AT)
    rules = planner_preferences(prefs, said)
    assert rules.dislikes[:2] == ("peanuts", "fish")
    assert "rice" in rules.dislikes
    assert set(dataclasses.asdict(rules)) == {f.name for f in dataclasses.fields(Preferences)}  # no allergy field


def test_too_spicy_lowers_the_tolerance_below_the_dish():
    prefs = signals.too_spicy(EMPTY, 2, AT)
    assert prefs.spice_tolerance.value == 1 and prefs.spice_tolerance.source == "said"
    assert signals.too_spicy(prefs, 3, AT).spice_tolerance.value == 1  # never raised by "too spicy"
    assert signals.too_spicy(prefs, 1, AT).spice_tolerance.value == 0
    assert signals.too_spicy(prefs, None, AT).spice_tolerance.value == 0
    assert signals.too_spicy(EMPTY, None, AT).spice_tolerance.value == 1
    assert changed_fields(EMPTY, prefs) == {"spice_tolerance"}
    # Loving a hot dish raises it again, less sure.
    loved = rate(prefs, 5, spice=3)
    assert loved.spice_tolerance.value == 3 and loved.spice_tolerance.confidence < prefs.spice_tolerance.confidence
    with pytest.raises(ValueError, match="7"):
        signals.too_spicy(EMPTY, 7, AT)


def test_cooking_minutes_and_answers():
    prefs = signals.said_cooking_minutes(EMPTY, 30, AT)
    assert prefs.cooking_minutes.value == 30 and changed_fields(EMPTY, prefs) == {"cooking_minutes"}
    assert planner_preferences(prefs, {}).max_minutes == 30
    assert planner_preferences(prefs, {"max_minutes": 45}).max_minutes == 45  # said in the profile wins
    with pytest.raises(ValueError, match="-5"):
        signals.said_cooking_minutes(EMPTY, -5, AT)
    assert answers.said_cooking_skill(EMPTY, "basic", AT).cooking_skill.value == "basic"
    assert answers.said_budget(EMPTY, "tight", AT).budget_sensitivity.value == "tight"
    with pytest.raises(ValueError, match="cheap"):
        answers.said_budget(EMPTY, "cheap", AT)


def test_meal_times_follow_logs_and_one_late_meal_barely_moves_them():
    prefs = EMPTY
    for minute in (0, 10, 50, 20, 30, 40, 20, 30):
        prefs = signals.meal_logged(prefs, slot="dinner", local_time=dt.time(19, minute), cuisine=None, at=AT)
    assert "19:1" in prefs.meal_times["dinner"].value or "19:2" in prefs.meal_times["dinner"].value
    late = signals.meal_logged(prefs, slot="dinner", local_time=dt.time(23, 45), cuisine=None, at=AT)
    hours, minutes = map(int, late.meal_times["dinner"].value.split(":"))
    assert 19 * 60 <= hours * 60 + minutes <= 19 * 60 + 45
    assert changed_fields(EMPTY, prefs) == {"meal_times"}
    # Without a slot, the time says which; a logged cuisine is a mild liking, except a breakfast's.
    guessed = signals.meal_logged(EMPTY, slot=None, local_time=dt.time(12, 45), cuisine="mexican", at=AT)
    assert set(guessed.meal_times) == {"lunch"} and guessed.cuisines["mexican"].value > 0
    assert guessed.cuisines["mexican"].source == "logs" and guessed.cuisines["mexican"].confidence < 0.2
    breakfast = signals.meal_logged(EMPTY, slot=None, local_time=dt.time(7, 45), cuisine="mexican", at=AT)
    assert set(breakfast.meal_times) == {"breakfast"} and breakfast.cuisines == {}
    # Around midnight the mean goes the short way round the clock.
    night = signals.meal_logged(EMPTY, slot="snack", local_time=dt.time(23, 50), cuisine=None, at=AT)
    night = signals.meal_logged(night, slot="snack", local_time=dt.time(0, 10), cuisine=None, at=AT)
    assert night.meal_times["snack"].value == "00:00"
    with pytest.raises(ValueError, match="brunch"):
        signals.meal_logged(EMPTY, slot="brunch", local_time=dt.time(11), cuisine=None, at=AT)


def correct(prefs, food, ratio, predicted=200.0):
    return signals.portion_corrected(prefs, food=food, predicted_g=predicted, corrected_g=predicted * ratio, at=AT)


def test_one_odd_portion_correction_moves_the_factor_only_a_little():
    odd = correct(EMPTY, "rice", 2.0)
    assert changed_fields(EMPTY, odd) == {"portions"}
    assert odd.portions["rice"].factor() == pytest.approx(2 ** (1 / (1 + PORTION_SHRINK)))
    assert 1.0 < portion_factor(odd, "rice") < 1.3
    typo = correct(EMPTY, "rice", 10.0)  # a 10x slip counts as a 2x correction
    assert portion_factor(typo, "rice") == pytest.approx(portion_factor(odd, "rice"))
    assert portion_factor(EMPTY, "rice") is None
    assert portion_factor(correct(EMPTY, "rice", 1.02), "rice") is None  # too small to mention
    with pytest.raises(ValueError, match="0"):
        signals.portion_corrected(EMPTY, food="rice", predicted_g=0, corrected_g=100, at=AT)


def test_consistent_portion_corrections_converge_and_carry_to_other_foods():
    prefs = EMPTY
    for i in range(20):
        prefs = correct(prefs, ("rice", "chicken breast", "pasta")[i % 3], 1.3)
    assert portion_factor(prefs, "rice") == pytest.approx(1.3, rel=0.05)
    assert portion_factor(prefs, "bread") == pytest.approx(1.3, rel=0.05)  # the person's usual bias
    assert PortionBias("x", -10.0, 1).factor() == 0.5  # clamped


def test_reset_each_field_and_refuse_unknown():
    prefs = signals.disliked(rate(EMPTY, 5), "mushrooms", AT)
    prefs = signals.too_spicy(signals.said_cooking_minutes(prefs, 20, AT), 2, AT)
    prefs = answers.said_budget(answers.said_cooking_skill(prefs, "basic", AT), "tight", AT)
    prefs = correct(signals.meal_logged(prefs, slot="lunch", local_time=dt.time(12), cuisine=None, at=AT), "rice", 2)
    for field in RESETTABLE:
        cleared = reset(prefs, field)
        assert len(changed_fields(prefs, cleared)) == 1
        assert cleared.counts == prefs.counts
    emptied = prefs
    for field in RESETTABLE:
        emptied = reset(emptied, field)
    assert dataclasses.replace(emptied, counts={}) == EMPTY
    with pytest.raises(ValueError, match="cuisines, dislikes"):
        reset(prefs, "allergies")


def test_stored_form_round_trips_through_json():
    prefs = signals.disliked(rate(EMPTY, 4, spice=1), "mushrooms", AT)
    prefs = correct(signals.meal_logged(prefs, slot="lunch", local_time=dt.time(12, 15), cuisine="thai", at=AT), "x", 2)
    prefs = answers.said_cooking_skill(answers.question_asked(prefs, "cooking_skill", AT), "advanced", AT)
    stored = json.loads(json.dumps(prefs.to_dict()))
    assert UserPreferences.from_dict(stored) == prefs
    assert UserPreferences.from_dict(None) == EMPTY == UserPreferences.from_dict({})
    with pytest.raises(ValueError, match="99"):
        UserPreferences.from_dict({"version": 99})
    with pytest.raises(ValueError, match="source"):
        Learned(1, 0.5, "guess", "2026-12-01T00:00:00+00:00")


def test_signals_do_not_change_their_input():
    prefs = rate(EMPTY, 4)
    before = prefs.to_dict()
    rate(prefs, 1)
    signals.disliked(prefs, "tofu", AT)
    correct(prefs, "rice", 1.5)
    assert prefs.to_dict() == before


def test_planner_preferences_keep_said_and_add_what_is_sure():
    prefs = signals.disliked(EMPTY, "mushrooms", AT)
    prefs = rate(rate(rate(prefs, 5, cuisine="thai"), 4, cuisine="indian"), 1, cuisine="japanese", foods=("tofu",))
    prefs = signals.too_spicy(prefs, 2, AT)
    rules = planner_preferences(prefs, {"dislikes": ["fish"], "cuisines": ["greek"]})
    assert rules.dislikes == ("fish", "mushrooms")  # tofu rated low once: not a rule
    assert rules.cuisines == ("greek", "thai", "indian")  # japanese disliked: not liked
    assert rules.max_spice == 1
    assert planner_preferences(prefs, {"max_spice": 3}).max_spice == 3
    assert planner_preferences(EMPTY, {}) == Preferences()


def test_stage_from_days_and_engagement():
    assert stage(EMPTY, days_active=7, messages_last_7_days=50) == "foundation"
    assert stage(EMPTY, days_active=8, messages_last_7_days=50) == "discovery"
    assert stage(EMPTY, days_active=10, messages_last_7_days=1) == "foundation"  # too quiet to ask things
    assert stage(EMPTY, days_active=10, messages_last_7_days=10) == "discovery"
    assert stage(EMPTY, days_active=40, messages_last_7_days=10) == "ongoing"


def test_next_question_rules():
    assert next_question(EMPTY, stage="foundation", asked_today=0, correcting=False) is None
    assert next_question(EMPTY, stage="discovery", asked_today=1, correcting=False) is None
    assert next_question(EMPTY, stage="discovery", asked_today=0, correcting=True) is None
    # Foods to avoid first (the surest way to stop suggesting them), until answered, "none" included.
    assert next_question(EMPTY, stage="discovery", asked_today=0, correcting=False) == "dislikes"
    answered = answers.said_dislikes(EMPTY, ["mushrooms", "olives"], AT)
    assert {"mushrooms", "olives"} <= set(hard_dislikes(answered)) and answered.disliked["olives"].source == "said"
    assert next_question(answered, stage="discovery", asked_today=0, correcting=False) == "cuisines"
    nothing = answers.said_dislikes(EMPTY, [], AT)
    assert nothing.disliked == {} and next_question(nothing, stage="discovery", asked_today=0, correcting=False) == (
        "cuisines"
    )
    # The least confident field first: cuisines known, spice said, so cooking time comes next.
    known = answers.said_cuisines(nothing, liked=["thai", "indian", "greek"], at=AT)
    assert next_question(known, stage="ongoing", asked_today=0, correcting=False) == "spice"
    known = answers.said_spice(known, 2, AT)
    assert next_question(known, stage="ongoing", asked_today=0, correcting=False) == "cooking_time"
    # A question asked three times without an answer is not asked again.
    nagged = known
    for field in ("cooking_time", "cooking_skill", "budget"):
        for _ in range(3):
            nagged = answers.question_asked(nagged, field, AT)
    assert nagged.counts["questions_asked"] == 9
    assert next_question(nagged, stage="discovery", asked_today=0, correcting=False) is None
    with pytest.raises(ValueError, match="weekly"):
        next_question(EMPTY, stage="weekly", asked_today=0, correcting=False)


DISHES = [
    ("a", "thai", ("tofu", "rice"), 0),
    ("b", "italian", ("pasta", "mushrooms"), 0),
    ("c", "italian", ("pasta", "tomatoes"), 0),
    ("d", "mexican", ("beans", "rice"), 3),
    ("e", "american", ("eggs",), 0),
    ("f", "american", ("potatoes",), 0),
]


def ranked(prefs) -> list[str]:
    out = rank(DISHES, prefs, cuisine_of=lambda d: d[1], foods_of=lambda d: d[2], spice_of=lambda d: d[3])
    return [d[0] for d in out]


def test_rank_is_stable_likes_first_and_disliked_foods_last():
    assert ranked(EMPTY) == ["a", "b", "c", "d", "e", "f"]  # nothing learned: the order given
    prefs = rate(rate(EMPTY, 5, cuisine="italian", foods=()), 5, cuisine="italian", foods=())
    prefs = signals.disliked(prefs, "mushroom", AT)
    prefs = signals.too_spicy(prefs, 2, AT)
    order = ranked(prefs)
    assert order[0] == "c"  # italian liked, no mushrooms
    assert order[-1] == "b"  # mushrooms, even though italian is liked
    assert order.index("d") > order.index("a")  # too hot
    assert order[1:4] == ["a", "e", "f"]  # the untouched keep their order


def test_planned_meals_kept_or_swapped_move_cuisine_and_foods_but_never_make_a_rule():
    swapped = EMPTY
    for _ in range(30):
        swapped = signals.planned(swapped, cuisine="korean", foods=["kimchi"], spice=2, accepted=False, at=AT)
    assert swapped.cuisines["korean"].value < 0 and swapped.cuisines["korean"].source == "plans"
    assert 0.05 < swapped.disliked["kimchi"].confidence < DISLIKE_HARD  # suspected, ranked down, not a rule
    assert planner_preferences(swapped, {}).dislikes == ()
    assert swapped.spice_tolerance is None  # a swap has many reasons; "too spicy" says which
    kept = signals.planned(swapped, cuisine="korean", foods=["kimchi"], spice=2, accepted=True, at=AT)
    assert kept.disliked["kimchi"].confidence < swapped.disliked["kimchi"].confidence
    assert kept.counts["plans_kept"] == 1 and kept.counts["plans_swapped"] == 30


def test_weak_signals_never_clear_a_swap_or_a_said_dislike():
    prefs = signals.disliked(signals.substituted(EMPTY, removed="quinoa", added=None, at=AT), "olives", AT)
    for _ in range(5):
        prefs = signals.planned(prefs, cuisine="greek", foods=["quinoa", "olives"], spice=0, accepted=True, at=AT)
        prefs = rate(prefs, 5, cuisine="greek", foods=("quinoa", "olives"))
    assert planner_preferences(prefs, {}).dislikes == ("olives", "quinoa")
    back = signals.substituted(prefs, removed="rice", added="quinoa", at=AT)  # swapped back in: cleared
    assert back.disliked["quinoa"].confidence < DISLIKE_HARD
