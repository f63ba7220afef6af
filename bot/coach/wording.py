"""Everything the coach writes: command answers, targets, what's left, meal ideas, questions, profile.
ASCII only (GSM-7 for SMS)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.chat_text import bold, day_line, fit
from bot.settings import TierLimits
from bot.storage.records import DayTotals, ItemRecord, ProfileRecord
from nutrition.allergens import LABELS, TOP9
from nutrition.meal_text import LoggedFood, Question
from nutrition.profile_text import GOAL_LABELS
from nutrition.rebalance import Option
from nutrition.targets import DailyTargets, Goal
from nutrition.usda_table import Nutrients

STOPPED = "Done, you won't hear from me again. Send start if you change your mind."
STARTED = "Welcome back! Send a photo of your meal to log it."
NOT_A_COMMAND = (
    'I didn\'t get that. Send a photo of your meal or type it ("2 eggs and toast"); send help for the commands.'
)
NOTHING_TO_UNDO = "There's no meal to undo."
ASK_ALLERGIES = 'Any food allergies I should know about? (e.g. "no nuts or shellfish", or "none")'
ASK_GOAL = "What's your main goal? 1) lose weight 2) eat better 3) save money 4) maintain"
WELCOME = "Hi! I'm your nutrition coach: send a photo of a meal or type it (\"2 eggs and toast\") and I'll log it."
QUESTIONS = {
    "sex": "To personalise your calorie target: are you male or female?",
    "age": "How old are you?",
    "height": "How tall are you? (e.g. 172 cm or 5'8\")",
    "weight": "What do you weigh? (e.g. 80 kg or 176 lb)",
    "activity": "How active are you? sedentary, light (1-3 workouts a week), moderate (3-5), active (6-7) or very active",
}
CONFIRM_DELETE = (
    "This deletes everything I have about you: meals, profile, messages and usage. It can't be undone. "
    'Reply "yes delete" to confirm, anything else to keep your data.'
)
DELETED = "Done: everything I had about you is deleted. Message me any time to start again."
KEPT = "OK, I kept your data."


def today_reply(totals: DayTotals) -> str:
    return day_line(totals) if totals.meals else "Nothing logged today yet. Send a photo of your meal to start."


def undo_reply(items: Sequence[ItemRecord], kcal: float, totals: DayTotals) -> str:
    names = ", ".join(dict.fromkeys(i.display_name for i in items)) or "no items"
    return fit(f"Removed your last meal ({names}; {kcal:,.0f} kcal).\n{today_reply(totals)}")


def macros(n: Nutrients | DailyTargets) -> str:
    return f"protein {max(0, n.protein_g):,.0f} g, fat {max(0, n.fat_g):,.0f} g, carbs {max(0, n.carbs_g):,.0f} g"


def target_line(targets: DailyTargets) -> str:
    kind = "default target" if targets.is_default else "your target"
    return f"{kind.capitalize()}: {targets.kcal:,.0f} kcal a day ({macros(targets)})"


def left_line(targets: DailyTargets, left: Nutrients) -> str:
    label = " (default)" if targets.is_default else ""
    if left.kcal < 0:
        return f"That's {-left.kcal:,.0f} kcal over your {targets.kcal:,.0f} kcal target{label}."
    return f"Left today: {left.kcal:,.0f} of {targets.kcal:,.0f} kcal{label} ({macros(left)})"


def option_line(number: int, option: Option) -> str:
    n = option.nutrients
    size = "" if option.scale == 1 else f" (x{option.scale:g} portion)"
    return f"{number}. {option.name}{size}: {n.kcal:,.0f} kcal, {n.protein_g:.0f} g protein"


def advice_lines(
    targets: DailyTargets, left: Nutrients, options: Sequence[Option] | None, tip: str, table_note: str | None = None
) -> list[str]:
    lines = [left_line(targets, left)]
    if options:
        lines.append("Next meal ideas:")
        lines.extend(option_line(i + 1, o) for i, o in enumerate(options))
    elif options is None and table_note:
        lines.append(table_note)
    lines.append(f"Tip: {tip}")
    return lines


def food_line(food: LoggedFood) -> str:
    # typed amounts are exact, not estimates: no rounding to 5 g as for photos
    amount = f"{food.ml:,.0f} ml" if food.ml is not None else f"{food.grams:,.0f} g"
    return f"{food.name} {amount}, {food.nutrients.kcal:,.0f} kcal"


def text_meal_lines(foods: Sequence[LoggedFood], totals: DayTotals, whatsapp: bool) -> list[str]:
    lines = [food_line(f) for f in foods]
    total = sum(round(f.nutrients.kcal) for f in foods)
    eaten = Nutrients(0, *(sum(getattr(f.nutrients, k) for f in foods) for k in ("protein_g", "fat_g", "carbs_g")))
    meal = f"Meal: {total:,} kcal"
    lines.append(bold(meal, whatsapp) + f" ({macros(eaten)})")
    lines.append(day_line(totals))
    return lines


def question_text(question: Question) -> str:
    food = question.part.food
    if question.kind == "how_much":
        return f'How much {food}? e.g. "150 g", "1 cup" or "2 pieces".'
    if question.kind == "which":
        lines = [f'Which "{food}" do you mean?']
        lines += [f"{i + 1}. {description}" for i, (_, description) in enumerate(question.choices)]
        lines.append(f"Reply {', '.join(str(i + 1) for i in range(len(question.choices)))}, or name it differently.")
        return "\n".join(lines)
    return f'I couldn\'t find "{food}" among the USDA foods. Try another name, or send a photo.'


def allergies_text(profile: ProfileRecord) -> str:
    names = [LABELS[a] for a in TOP9 if a in profile.allergens] + list(profile.allergy_notes)
    if names:
        return ", ".join(names)
    return "none" if profile.allergies_known else "not told yet"


def profile_text(profile: ProfileRecord, targets: DailyTargets) -> str:
    goal = GOAL_LABELS[Goal(profile.goal)] if profile.goal else "not set"
    facts = [
        ("Goal", goal),
        ("Allergies", allergies_text(profile)),
        ("Sex", profile.sex),
        ("Age", f"{profile.age_years:.0f}" if profile.age_years else None),
        ("Height", f"{profile.height_cm:.0f} cm" if profile.height_cm else None),
        ("Weight", f"{profile.weight_kg:.1f} kg" if profile.weight_kg else None),
        ("Activity", (profile.activity or "").replace("_", " ") or None),
    ]
    lines = [f"{name}: {value if value else 'not told yet'}" for name, value in facts]
    lines.append(target_line(targets))
    return fit("\n".join(lines))


def targets_text(targets: DailyTargets) -> str:
    text = target_line(targets) + "\n" + targets.note.replace("×", "x").replace("−", "-")
    return fit(text)


# billing: the upgrade nudge lists only what a tier really gives (photos, meal plans)
PAYMENTS_OFF = "Payments aren't set up yet, so plans can't be bought here."


def tier_gives(limits: TierLimits) -> str:
    """What a tier gives, in words."""
    plans = f"{limits.meal_plans_per_month} meal plan{'s' if limits.meal_plans_per_month != 1 else ''} a month"
    return f"{limits.photos_per_day} meal photos a day and {plans}"


def upgrade_nudge(offers: Sequence[tuple[str, TierLimits, str]]) -> str:
    """The plans to upgrade to, each with its Checkout link: `offers` of (tier name, TierLimits, url)."""
    lines = [f"{name.capitalize()}: {tier_gives(limits)}. Subscribe: {url}" for name, limits, url in offers]
    return fit("\n".join(["Upgrade your plan:", *lines]))
