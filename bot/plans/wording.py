"""Everything the meal-plan wing writes: the plan's summary, one day's meals, the shopping list with its links,
limits and refusals. Each message fits one Twilio message (`bot.chat_text.fit`); ASCII only (GSM-7 for SMS)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from itertools import groupby

from bot.chat_text import MAX_CHARS, bold, fit
from bot.ledger import LimitHit
from bot.settings import TierLimits
from nutrition.planning.planner import Infeasible, Plan, PlanDay, PlannedMeal
from nutrition.planning.recipes import SLOTS

NO_PLAN = 'You have no meal plan for this week yet. Send "plan my week" (or "plan 3 days", "plan dinners only").'
NO_CATALOGUE = "Sorry, meal plans aren't available right now (the recipe catalogue is missing). Please try later."
FAILED = "Sorry, I couldn't make a plan just now. Please try again in a little while."
TOO_SLOW = (
    "Working out that plan is taking too long right now, sorry: ask again in a minute, or loosen a limit such as "
    "the budget (nothing was counted)."
)
ASK_ALLERGIES_FIRST = (
    "Before I plan your meals: any food allergies I should know about? "
    '(e.g. "no nuts or shellfish", or "none"). Then send "plan my week" again.'
)
UNSAFE = "Your plan has food you're allergic to and I couldn't re-plan it. Send \"plan my week\" for a new one."
WHICH_MEAL = 'Which meal? e.g. "swap tuesday dinner", "rate tuesday dinner 4".'
HOW_TO_BUDGET = 'Tell me your weekly food budget: "budget 50" (dollars a week), "budget tight", "normal" or "generous".'
HINT = (
    'Reply "day 2" for a day\'s meals, "shopping list" for the list; "swap tuesday dinner" or "no fish" to change it.'
)
PROVIDERS = {"instacart": "Instacart", "amazon_fresh": "Amazon Fresh"}


def day_name(start: date, index: int) -> str:
    return (start + timedelta(days=index)).strftime("%a")


def _main_meal(day: PlanDay) -> PlannedMeal | None:
    """The meal a summary line names: dinner, else the day's biggest."""
    by_slot = {m.slot: m for m in day.meals}
    return by_slot.get("dinner") or max(day.meals, key=lambda m: m.nutrients.kcal, default=None)


def summary(plan: Plan, start: date, whatsapp: bool, head: str = "Your meal plan") -> str:
    """The plan in one message: each day's dinner, kcal a day, the week's cost, what to reply."""
    wanted = plan.request_summary
    end = start + timedelta(days=len(plan.days) - 1)
    eaten = [d for d in plan.days if d.meals]
    kcal = sum(d.totals.kcal for d in eaten) / max(1, len(eaten))
    budget = wanted.get("budget_usd_per_week")
    cost = f"${plan.cost_usd:,.2f}" + (f" (budget ${budget:,.0f} a week)" if budget else "")
    title = bold(f"{head}, {start:%a %d %b} - {end:%a %d %b}", whatsapp)
    lines = [f"{title}: about {kcal:,.0f} kcal a day (target {wanted['kcal']:,.0f}), {cost}."]
    for day in plan.days:
        meal = _main_meal(day)
        label = f"Day {day.index + 1} {day_name(start, day.index)}"
        if meal is None:
            lines.append(f"{label}: eating out")
            continue
        slot = "" if meal.slot == "dinner" else f" ({meal.slot})"
        lines.append(f"{label}: {meal.name}{slot}, {day.totals.kcal:,.0f} kcal")
    lines.append(HINT)
    return fit("\n".join(lines))


def meal_line(meal: PlannedMeal) -> str:
    servings = "" if meal.servings == 1 else f" ({meal.servings:g} servings)"
    n = meal.nutrients
    return f"{meal.slot.capitalize()}: {meal.name}{servings}, {n.kcal:,.0f} kcal, {n.protein_g:,.0f} g protein"


def day_text(plan: Plan, index: int, start: date, whatsapp: bool, skipped: Sequence[str] = ()) -> str:
    day = plan.days[index]
    t = day.totals
    head = bold(f"Day {index + 1}, {start + timedelta(days=index):%a %d %b}", whatsapp)
    lines = [
        f"{head}: {t.kcal:,.0f} kcal, protein {t.protein_g:,.0f} g, fat {t.fat_g:,.0f} g, carbs {t.carbs_g:,.0f} g, "
        f"${day.cost_usd:,.2f}"
    ]
    meals = {m.slot: m for m in day.meals}
    for slot in SLOTS:
        if slot in meals:
            lines.append(meal_line(meals[slot]))
        elif slot in skipped:
            lines.append(f"{slot.capitalize()}: eating out")
    name = day_name(start, index).lower()
    lines.append(f'"swap {name} {(day.meals[-1].slot if day.meals else "dinner")}" for another; "rate 4" once eaten.')
    return fit("\n".join(lines))


def meal_text(plan: Plan, index: int, slot: str, start: date, whatsapp: bool, head: str = "") -> str:
    meal = next(m for m in plan.days[index].meals if m.slot == slot)
    when = bold(f"{start + timedelta(days=index):%a} {slot}", whatsapp)
    return fit(f"{head}{when}: {meal_line(meal).split(': ', 1)[1]}, ${meal.cost_usd:,.2f}.\n" + '"rate 4" once eaten.')


def packs(line) -> str:
    return line.pack_label if line.packs == 1 else f"{line.packs} x {line.pack_label}"


def shopping_texts(shopping, have: Sequence[str], links: Sequence[tuple[str, str]], whatsapp: bool) -> tuple[str, ...]:
    """The list grouped by aisle, then the cart links: as many messages as it takes, never a line cut."""
    lines = [bold(f"Shopping list, about ${shopping.total_usd:,.2f}", whatsapp)]
    if shopping.lines and shopping.total_usd - shopping.used_usd >= 1:
        lines.append(
            f"That's whole packs: these meals use about ${shopping.used_usd:,.2f} of them, "
            "the rest (oils, spices, flour) keeps for later weeks."
        )
    by_aisle = sorted(shopping.lines, key=lambda line: (line.aisle, line.item))
    for aisle, items in groupby(by_aisle, key=lambda line: line.aisle):
        lines.append(f"{aisle}: " + "; ".join(f"{line.item} {packs(line)}" for line in items))
    if not shopping.lines:
        lines.append("Nothing to buy: you have it all.")
    if have:
        lines.append("You have (left off): " + ", ".join(have))
    lines.append('Have some already? Reply "i have rice and eggs".')
    if links:
        lines.append(links_text(links))
    return tuple(messages(lines))


def messages(lines: Sequence[str]) -> list[str]:
    """`lines` packed into as few messages as fit (a line too long for one is cut)."""
    out: list[str] = []
    for line in lines:
        line = fit(line)
        if out and len(out[-1]) + 1 + len(line) <= MAX_CHARS:
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def links_text(links: Sequence[tuple[str, str]]) -> str:
    if not links:
        return "Online ordering isn't set up yet: take the shopping list to any shop."
    return fit("Order it online:\n" + "\n".join(f"{PROVIDERS.get(p, p)}: {url}" for p, url in links))


def limit_text(hit: LimitHit, upgrades: Sequence[tuple[str, TierLimits]], upgrade_url: str | None) -> str:
    plans = f"{hit.limit} meal plan" + ("" if hit.limit == 1 else "s")
    text = f"You've used the {plans} your {hit.tier} plan allows this month."
    if upgrades:
        name, tier = upgrades[0]
        text += f" The {name} plan gives {tier.pitch}" + (f": {upgrade_url}" if upgrade_url else ".")
    return text


def infeasible_text(error: Infeasible) -> str:
    text = f"I couldn't make that plan: {error}"
    if error.cheapest_usd_per_week is not None:
        text += f' Send "budget {error.cheapest_usd_per_week:.0f}" to use that budget.'
    elif "dislikes" in error.relax:
        text += " Your dislikes can be changed in your profile."
    return fit(text)
