"""What every reply shares: one chat message's limits, bold on WhatsApp, an item's line and the day-so-far line.

SMS replies stay in the GSM-7 alphabet (ASCII hyphen, no en dash or middle dot): one character outside it
turns every segment into UCS-2, 70 characters instead of 160, and more than doubles the cost.
"""

from __future__ import annotations

import math

from bot.storage.records import DayTotals, ItemRecord

MAX_CHARS = 1600  # Twilio refuses longer message bodies

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")  # two septets each


def is_whatsapp(address: str) -> bool:
    return address.startswith("whatsapp:")


def sms_segments(text: str) -> int:
    """How many SMS segments Twilio bills for `text` (GSM-7 when possible, else UCS-2)."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        septets = len(text) + sum(c in GSM7_EXTENSION for c in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def bold(text: str, whatsapp: bool) -> str:
    return f"*{text}*" if whatsapp else text


def macros_line(protein: float, fat: float, carbs: float) -> str:
    return f"protein {protein:.0f} g, fat {fat:.0f} g, carbs {carbs:.0f} g"


def grams(value: float) -> str:
    """Portions are estimates: 7 g, 45 g, 185 g, 1,250 g, never 183.4 g."""
    step = 1 if value < 20 else 5 if value < 200 else 10
    return f"{round(value / step) * step:,.0f}"


def item_line(item: ItemRecord, whatsapp: bool) -> str:
    """ "Apple ~180 g (150–210 g), 94 kcal" (an ASCII hyphen on SMS)."""
    dash = "–" if whatsapp else "-"
    low, high = grams(item.grams_low), grams(item.grams_high)
    return f"{item.display_name} ~{grams(item.grams)} g ({low}{dash}{high} g), {item.kcal:.0f} kcal"


def day_line(totals: DayTotals) -> str:
    meals = f"{totals.meals} meal" + ("" if totals.meals == 1 else "s")
    return f"Today so far: {totals.kcal:,.0f} kcal in {meals} ({macros_line(totals.protein_g, totals.fat_g, totals.carbs_g)})"


def fit(text: str, limit: int = MAX_CHARS) -> str:
    """Cut `text` at a line end so it fits in one Twilio message."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    return cut + "..."
