import pytest

from nutrition.targets import (
    AMDR,
    Activity,
    Body,
    Goal,
    ProfileError,
    Sex,
    bmr_mifflin_st_jeor,
    daily_targets,
    macro_grams,
)

MAN = Body(Sex.MALE, age_years=34, height_cm=172, weight_kg=80, activity=Activity.SEDENTARY)


def test_bmr_matches_the_published_formula():
    # 10·80 + 6.25·172 − 5·34 + 5 = 1710
    assert bmr_mifflin_st_jeor(MAN) == pytest.approx(1710)
    woman = Body(Sex.FEMALE, age_years=34, height_cm=172, weight_kg=80)
    assert bmr_mifflin_st_jeor(woman) == pytest.approx(1710 - 166)


def test_activity_and_goal():
    maintain = daily_targets(MAN, Goal.MAINTAIN)
    assert maintain.kcal == round(1710 * 1.2) and not maintain.is_default
    lose = daily_targets(MAN, Goal.LOSE_WEIGHT)
    assert lose.kcal == round(1710 * 1.2 * 0.85)
    assert lose.protein_g > maintain.protein_g * 0.85  # protein share rises when eating less


def test_safe_minimum_holds():
    small = Body(Sex.FEMALE, age_years=70, height_cm=150, weight_kg=45, activity=Activity.SEDENTARY)
    targets = daily_targets(small, Goal.LOSE_WEIGHT)
    assert targets.kcal == 1200 and "safe minimum" in targets.note


def test_defaults_say_they_are_defaults():
    targets = daily_targets(None)
    assert targets.is_default and targets.kcal == 2000 and "default" in targets.note
    assert targets.bmr_kcal is None


@pytest.mark.parametrize("goal", [None, *Goal])
@pytest.mark.parametrize("activity", list(Activity))
def test_macros_stay_inside_amdr_and_add_up(goal, activity):
    body = Body(Sex.MALE, 40, 180, 90, activity)
    t = daily_targets(body, goal)
    energy = {"protein": t.protein_g * 4, "fat": t.fat_g * 9, "carbs": t.carbs_g * 4}
    total = sum(energy.values())
    assert total == pytest.approx(t.kcal, rel=0.01)
    for macro, kcal in energy.items():
        low, high = AMDR[macro]
        assert low - 0.01 <= kcal / total <= high + 0.01


def test_split_outside_amdr_rejected():
    with pytest.raises(ValueError, match="fat share 50%"):
        macro_grams(2000, {"protein": 0.1, "fat": 0.5, "carbs": 0.4})
    with pytest.raises(ValueError, match="add up"):
        macro_grams(2000, {"protein": 0.2, "fat": 0.3, "carbs": 0.3})


@pytest.mark.parametrize(("field", "value"), [("age_years", 5), ("height_cm", 20), ("weight_kg", 900)])
def test_impossible_bodies(field, value):
    kwargs = {"sex": Sex.MALE, "age_years": 30, "height_cm": 170, "weight_kg": 70, field: value}
    with pytest.raises(ProfileError, match=field):
        Body(**kwargs)
