"""How we ask about a food we don't know: where it is in the photo, and the numbered choices."""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat_text import grams


@dataclass(frozen=True)
class UnknownFood:
    """A food the model could not name: where it was, what we offer as answers, its grams when something sized it."""

    photo_index: int
    suggestions: tuple[str, ...]  # display names of the numbered choices, best first
    grams: float | None = None
    where: str | None = None  # "on the left", "in the middle"...


def where_in(box: dict | None, image: dict | None) -> str | None:
    """Where a box sits across the photo, in words: "on the left", "in the middle", "on the right"."""
    if not box or not image or not image.get("width"):
        return None
    centre = (box["xmin"] + box["xmax"]) / 2 / image["width"]
    return "on the left" if centre < 1 / 3 else "on the right" if centre > 2 / 3 else "in the middle"


def question_line(food: UnknownFood, photos: int = 1) -> str:
    """ "I can't tell what the food on the left is (not counted yet): (1) pasta, (2) rice, or tell me what it was." """
    where = f"the food {food.where}" if food.where else "one of the foods"
    if photos > 1:
        where += f" of photo {food.photo_index + 1}"
    size = f" (~{grams(food.grams)} g, not counted yet)" if food.grams else " (not counted yet)"
    choices = ", ".join(f"({i + 1}) {s.lower()}" for i, s in enumerate(food.suggestions[:3]))
    ask = f"{choices}, or tell me what it was." if choices else 'tell me what it was, e.g. "pasta".'
    return f"I can't tell what {where} is{size}: {ask}"
