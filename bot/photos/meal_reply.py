"""The reply to a photo meal: one line per item ("Apple ~180 g (150–210 g), 94 kcal"), the meal, the day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.chat_text import bold, day_line, fit, macros_line
from bot.storage.records import DayTotals, ItemRecord

MAX_ITEM_LINES = 10

UNAVAILABLE = (
    "Sorry, I couldn't analyse your photo just now. I've kept it and will retry shortly, no need to send it again."
)
GAVE_UP = "Sorry, I still couldn't analyse the photo you sent earlier. Please send it again a bit later."
NO_FOOD = "I couldn't spot any food in that photo. Try again from above, with the whole plate in view."


def grams(value: float) -> str:
    """Portions are estimates: 7 g, 45 g, 185 g, 1,250 g, never 183.4 g."""
    step = 1 if value < 20 else 5 if value < 200 else 10
    return f"{round(value / step) * step:,.0f}"


def item_line(item: ItemRecord, whatsapp: bool) -> str:
    dash = "–" if whatsapp else "-"
    low, high = grams(item.grams_low), grams(item.grams_high)
    return f"{item.display_name} ~{grams(item.grams)} g ({low}{dash}{high} g), {item.kcal:.0f} kcal"


@dataclass(frozen=True)
class UnknownFood:
    """A food the model could not name: where it was, what it might be, its grams when something sized it."""

    photo_index: int
    suggestions: tuple[str, ...]  # display names, best first
    grams: float | None = None


def unknown_line(food: UnknownFood) -> str:
    """ "Something I don't recognise (pizza? bread?), not counted yet: what is it?" — never one of our foods."""
    size = f" ~{grams(food.grams)} g" if food.grams else ""
    guesses = " or ".join(s.lower() for s in food.suggestions[:3])
    maybe = f", maybe {guesses}" if guesses else ""
    return f"Something I don't recognise{size}{maybe}: not counted yet. What is it?"


def meal_reply(
    items: Sequence[ItemRecord],
    day: DayTotals,
    whatsapp: bool,
    photos: int = 1,
    notes: Sequence[str] = (),
    hint: str | None = None,
    footer: Sequence[str] = (),
    unknown: Sequence[UnknownFood] = (),
) -> str:
    """Per item "Apple ~180 g (150–210 g), 94 kcal", each unknown food with its suggestions, then the meal total
    and the day so far."""
    lines: list[str] = []
    for item in items[:MAX_ITEM_LINES]:
        prefix = f"Photo {item.photo_index + 1}: " if photos > 1 else ""
        lines.append(prefix + item_line(item, whatsapp))
    for food in unknown[:MAX_ITEM_LINES]:
        prefix = f"Photo {food.photo_index + 1}: " if photos > 1 else ""
        lines.append(prefix + unknown_line(food))
    if len(items) > MAX_ITEM_LINES:
        rest = items[MAX_ITEM_LINES:]
        lines.append(f"+{len(rest)} more, {sum(round(i.kcal) for i in rest):,} kcal")
    if items:
        kcal = sum(round(i.kcal) for i in items)  # adds up to the lines above, as people will check
        macros = macros_line(*(sum(getattr(i, k) for i in items) for k in ("protein_g", "fat_g", "carbs_g")))
        lines.append(bold(f"Meal: {kcal:,} kcal", whatsapp) + f" ({macros})")
    elif not unknown:
        lines.append(hint or NO_FOOD)
    lines.extend(notes)
    if items:
        lines.append(day_line(day))
    lines.extend(footer)
    return fit("\n".join(lines))
