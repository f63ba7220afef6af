"""The reply to a photo meal: one line per item ("Apple ~180 g (150–210 g), 94 kcal"), the meal, the day."""

from __future__ import annotations

from collections.abc import Sequence

from bot.chat_text import bold, day_line, fit, item_line, macros_line
from bot.gallery.wording import UnknownFood, question_line
from bot.storage.records import DayTotals, ItemRecord

MAX_ITEM_LINES = 10

UNAVAILABLE = (
    "Sorry, I couldn't analyse your photo just now. I've kept it and will retry shortly, no need to send it again."
)
GAVE_UP = "Sorry, I still couldn't analyse the photo you sent earlier. Please send it again a bit later."
NO_FOOD = "I couldn't spot any food in that photo. Try again from above, with the whole plate in view."


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
    """Per item "Apple ~180 g (150–210 g), 94 kcal", the question about the first unknown food, then the meal
    total and the day so far."""
    lines: list[str] = []
    for item in items[:MAX_ITEM_LINES]:
        prefix = f"Photo {item.photo_index + 1}: " if photos > 1 else ""
        lines.append(prefix + item_line(item, whatsapp))
    if unknown:  # one question at a time: the first now, the others after its answer
        lines.append(question_line(unknown[0], photos))
        if len(unknown) > 1:
            more = len(unknown) - 1
            lines.append(f"(Then I'll ask about {more} more food{'s' if more > 1 else ''} I didn't recognise.)")
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
