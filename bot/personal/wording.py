"""What the personalization wing says: "what do you know about me" (every learned field, how sure, from what),
a reset confirmed, the questions it asks and the notes it adds to other replies."""

from __future__ import annotations

from bot.chat_text import fit
from nutrition.personalization.preferences import Learned, UserPreferences
from nutrition.personalization.use import DISLIKE_HARD

SOURCES = {
    "said": "you said",
    "ratings": "your ratings",
    "substitutions": "your swaps",
    "logs": "your logs",
    "corrections": "your corrections",
    "plans": "your plans",
}
SPICE_LEVELS = ("no spice", "mild", "medium", "hot")
MAYBE_DISLIKE, MAYBE_SHOWN = 0.3, 3  # suspected dislikes worth a mention, and how many at most
FIELD_NAMES = {
    "cuisines": "cuisines",
    "dislikes": "foods you don't like",
    "spice": "spice level",
    "cooking_time": "cooking time",
    "cooking_skill": "cooking skill",
    "budget": "budget",
    "meal_times": "meal times",
    "portions": "usual portions",
    "all": "everything I learned about your tastes",
}
PORTIONS_NOTE = 'Grams adjusted for your usual portions (say "it was 150 g" if they are off).'
HOW_TO_RESET = 'To make me forget one: "reset spice", "forget my cuisines", "reset my portions"...'
QUESTIONS = {
    "dislikes": 'Any foods you\'d rather not see in your meals? (e.g. "mushrooms, olives", or "none")',
    "cuisines": "Which cuisines do you enjoy most? (e.g. Indian, Italian, Mexican)",
    "spice": "How spicy do you like your food: none, mild, medium or hot?",
    "cooking_time": "How many minutes do you usually have to cook a meal? (e.g. 20)",
    "cooking_skill": "How would you rate your cooking: basic, intermediate or advanced?",
    "budget": "What's your food budget like: tight, normal or generous?",
}


def sureness(confidence: float) -> str:
    if confidence >= 0.8:
        return "sure"
    if confidence >= 0.6:
        return "fairly sure"
    if confidence >= 0.35:
        return "a guess so far"
    return "just a hunch"


def _how(learned: Learned) -> str:
    return f"{sureness(learned.confidence)}, {SOURCES.get(learned.source, learned.source)}"


def learned_lines(prefs: UserPreferences) -> list[str]:
    """One line per learned field, with how sure and where from; [] when nothing is learned yet."""
    lines = []
    liked = sorted(prefs.cuisines.items(), key=lambda kv: -float(kv[1].value))
    if liked:
        said = [
            f"{'likes' if float(v.value) > 0.1 else 'not keen on' if float(v.value) < -0.1 else 'neutral on'} "
            f"{name.title()} ({_how(v)})"
            for name, v in liked
        ]
        lines.append("Cuisines: " + "; ".join(said))
    # most learned dislikes are weak suspicions (one poor rating touches every food of the dish): only those sure
    # enough to be rules are called dislikes; a few of the strongest others are shown as a "maybe"
    foods = sorted(prefs.disliked.items(), key=lambda kv: (-kv[1].confidence, kv[0]))
    hard = [(food, v) for food, v in foods if v.confidence >= DISLIKE_HARD]
    maybe = [(food, v) for food, v in foods if MAYBE_DISLIKE <= v.confidence < DISLIKE_HARD][:MAYBE_SHOWN]
    if hard:
        lines.append("Foods you don't like: " + "; ".join(f"{food} ({_how(v)})" for food, v in hard))
    if maybe:
        lines.append("Maybe not for you: " + ", ".join(food for food, _ in maybe) + " (just a hunch so far)")
    if (spice := prefs.spice_tolerance) is not None:
        level = int(spice.value)
        lines.append(f"Spice: up to {SPICE_LEVELS[max(0, min(3, level))]} ({_how(spice)})")
    if (minutes := prefs.cooking_minutes) is not None:
        lines.append(f"Cooking time: {int(minutes.value)} minutes at most ({_how(minutes)})")
    if (skill := prefs.cooking_skill) is not None:
        lines.append(f"Cooking skill: {skill.value} ({_how(skill)})")
    if (budget := prefs.budget_sensitivity) is not None:
        lines.append(f"Budget: {budget.value} ({_how(budget)})")
    if prefs.meal_times:
        order = ("breakfast", "lunch", "snack", "dinner")
        times = sorted(prefs.meal_times.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 9)
        lines.append("Meal times: " + "; ".join(f"{slot} around {v.value} ({_how(v)})" for slot, v in times))
    if prefs.portions:
        parts = []
        for food, bias in sorted(prefs.portions.items()):
            factor = bias.factor()
            more = "more" if factor >= 1 else "less"
            times = "correction" if bias.n == 1 else "corrections"
            parts.append(f"{food} about {abs(factor - 1):.0%} {more} than I guess (from {bias.n} {times})")
        lines.append("Your portions: " + "; ".join(parts))
    return lines


def known_text(prefs: UserPreferences, profile_lines: str, said: dict) -> str:
    """The answer to "what do you know about me"."""
    lines = ["*What I know about you*", profile_lines]
    told = []
    if said.get("dislikes"):
        told.append("no " + ", ".join(said["dislikes"]))
    if said.get("max_spice") is not None:
        told.append(f"spice up to {SPICE_LEVELS[int(said['max_spice'])]}")
    if said.get("max_minutes"):
        told.append(f"{said['max_minutes']} minutes at most")
    if said.get("budget") is not None:
        budget = said["budget"]
        told.append(f"budget {budget}" if isinstance(budget, str) else f"budget ${float(budget):,.0f} a week")
    if told:
        lines.append("For your meal plans you told me: " + "; ".join(told) + ".")
    learned = learned_lines(prefs)
    if learned:
        lines.append("*What I've learned*")
        lines.extend(learned)
        lines.append(HOW_TO_RESET)
    else:
        lines.append("I haven't learned your tastes yet: rate meals (\"rate 4\"), tell me what you don't like.")
    return fit("\n".join(lines))


def reset_text(field: str) -> str:
    return f"Done: I've forgotten your {FIELD_NAMES[field]}. I'll learn again from what you tell me and log."
