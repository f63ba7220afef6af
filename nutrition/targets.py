"""Daily energy and macro targets: Mifflin-St Jeor BMR × activity, a goal adjustment, a split inside the AMDR."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Sex(str, Enum):
    MALE = "male"
    FEMALE = "female"


class Activity(str, Enum):
    SEDENTARY = "sedentary"
    LIGHT = "light"
    MODERATE = "moderate"
    ACTIVE = "active"
    VERY_ACTIVE = "very_active"


class Goal(str, Enum):
    SAVE_MONEY = "save_money"
    LOSE_WEIGHT = "lose_weight"
    EAT_BETTER = "eat_better"
    MAINTAIN = "maintain"


ACTIVITY_FACTOR = {
    Activity.SEDENTARY: 1.2,
    Activity.LIGHT: 1.375,
    Activity.MODERATE: 1.55,
    Activity.ACTIVE: 1.725,
    Activity.VERY_ACTIVE: 1.9,
}
LOSE_WEIGHT_DEFICIT = 0.15
# Below these intakes weight loss needs medical supervision; we never suggest less.
SAFE_MINIMUM_KCAL = {Sex.MALE: 1500.0, Sex.FEMALE: 1200.0, None: 1200.0}
DEFAULT_KCAL = 2000.0  # the reference intake used on US nutrition labels
KCAL_PER_G = {"protein": 4.0, "carbs": 4.0, "fat": 9.0}
# Acceptable Macronutrient Distribution Ranges (share of energy), adults.
AMDR = {"carbs": (0.45, 0.65), "fat": (0.20, 0.35), "protein": (0.10, 0.35)}
# Within the AMDR: more protein when eating less keeps satiety and lean mass.
MACRO_SPLIT = {
    Goal.LOSE_WEIGHT: {"protein": 0.25, "fat": 0.30, "carbs": 0.45},
    None: {"protein": 0.20, "fat": 0.30, "carbs": 0.50},
}


class ProfileError(ValueError):
    """A body measurement is outside what a person can have."""


@dataclass(frozen=True)
class Body:
    sex: Sex
    age_years: float
    height_cm: float
    weight_kg: float
    activity: Activity = Activity.LIGHT

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("age_years", self.age_years, 13, 120),
            ("height_cm", self.height_cm, 100, 250),
            ("weight_kg", self.weight_kg, 30, 350),
        ):
            if not low <= value <= high:
                raise ProfileError(f"{name}={value} is outside {low}–{high}")


@dataclass(frozen=True)
class DailyTargets:
    kcal: float
    protein_g: float
    fat_g: float
    carbs_g: float
    bmr_kcal: float | None
    is_default: bool
    note: str


def bmr_mifflin_st_jeor(body: Body) -> float:
    """Resting energy (kcal/day): 10·kg + 6.25·cm − 5·age + 5 (men) or − 161 (women)."""
    base = 10 * body.weight_kg + 6.25 * body.height_cm - 5 * body.age_years
    return base + (5 if body.sex is Sex.MALE else -161)


def macro_grams(kcal: float, split: dict[str, float]) -> dict[str, float]:
    """Grams of protein, fat and carbs that supply `split` shares of `kcal`; the split must sit inside the AMDR."""
    if abs(sum(split.values()) - 1) > 1e-6:
        raise ValueError(f"macro shares {split} do not add up to 1")
    for macro, share in split.items():
        low, high = AMDR[macro]
        if not low <= share <= high:
            raise ValueError(f"{macro} share {share:.0%} is outside the AMDR {low:.0%}–{high:.0%}")
    return {macro: kcal * share / KCAL_PER_G[macro] for macro, share in split.items()}


def daily_targets(body: Body | None, goal: Goal | None = None) -> DailyTargets:
    """Energy and macro targets for a person, or labelled defaults when we don't know their body yet."""
    split = MACRO_SPLIT.get(goal, MACRO_SPLIT[None])
    if body is None:
        kcal, bmr = DEFAULT_KCAL, None
        note = "default 2,000 kcal: tell me your sex, age, height, weight and activity for a personal target"
    else:
        bmr = bmr_mifflin_st_jeor(body)
        kcal = bmr * ACTIVITY_FACTOR[body.activity]
        note = f"BMR {bmr:.0f} kcal × {ACTIVITY_FACTOR[body.activity]} ({body.activity.value})"
    if goal is Goal.LOSE_WEIGHT:
        floor = SAFE_MINIMUM_KCAL[body.sex if body else None]
        reduced = kcal * (1 - LOSE_WEIGHT_DEFICIT)
        kcal = max(reduced, floor)
        note += f", −{LOSE_WEIGHT_DEFICIT:.0%} to lose weight" + (
            f" (held at the safe minimum of {floor:.0f})" if reduced < floor else ""
        )
    grams = macro_grams(kcal, split)
    return DailyTargets(
        kcal=round(kcal),
        protein_g=round(grams["protein"]),
        fat_g=round(grams["fat"]),
        carbs_g=round(grams["carbs"]),
        bmr_kcal=round(bmr) if bmr is not None else None,
        is_default=body is None,
        note=note,
    )
