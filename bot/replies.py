"""Reply texts for WhatsApp and SMS, kept short and under Twilio's 1,600 characters.

SMS replies stay in the GSM-7 alphabet (ASCII hyphen, no en dash or middle dot): one character outside it
turns every segment into UCS-2, 70 characters instead of 160, and more than doubles the cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from twilio.twiml.messaging_response import MessagingResponse

from bot.ledger import LimitHit
from bot.settings import TierLimits
from bot.store import DayTotals, ItemRecord

MAX_CHARS = 1600  # Twilio refuses longer message bodies
MAX_ITEM_LINES = 10

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")  # two septets each

HELP = (
    "Send a photo of your meal, or type it (\"2 eggs and a slice of toast\", \"150g chicken breast\"): I'll log "
    "portions, calories and macros.\n"
    "Fix the last meal: \"that was a pear\", \"it was 150 g\", \"remove the bread\".\n"
    "Commands: today, undo, targets, profile, goal lose weight, allergic to peanuts, export my data, "
    "delete my data, stop, help."
)
STOPPED = "Done, you won't hear from me again. Send start if you change your mind."
STARTED = "Welcome back! Send a photo of your meal to log it."
NOT_A_COMMAND = (
    "I didn't get that. Send a photo of your meal or type it (\"2 eggs and toast\"); send help for the commands."
)
NOTHING_TO_UNDO = "There's no meal to undo."
UNAVAILABLE = (
    "Sorry, I couldn't analyse your photo just now. I've kept it and will retry shortly, "
    "no need to send it again."
)
GAVE_UP = "Sorry, I still couldn't analyse the photo you sent earlier. Please send it again a bit later."
NO_FOOD = "I couldn't spot any food in that photo. Try again from above, with the whole plate in view."


def is_whatsapp(address: str) -> bool:
    return address.startswith("whatsapp:")


def sms_segments(text: str) -> int:
    """How many SMS segments Twilio bills for `text` (GSM-7 when possible, else UCS-2)."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        septets = len(text) + sum(c in GSM7_EXTENSION for c in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def twiml(text: str | Sequence[str] | None) -> str:
    """A TwiML answer with one message (or several, in order), or none."""
    response = MessagingResponse()
    for message in [text] if isinstance(text, str) else text or ():
        if message:
            response.message(message)
    return str(response)


def grams(value: float) -> str:
    """Portions are estimates: 7 g, 45 g, 185 g, 1,250 g, never 183.4 g."""
    step = 1 if value < 20 else 5 if value < 200 else 10
    return f"{round(value / step) * step:,.0f}"


def item_line(item: ItemRecord, whatsapp: bool) -> str:
    dash = "–" if whatsapp else "-"
    low, high = grams(item.grams_low), grams(item.grams_high)
    return f"{item.display_name} ~{grams(item.grams)} g ({low}{dash}{high} g), {item.kcal:.0f} kcal"


def _macros(protein: float, fat: float, carbs: float) -> str:
    return f"protein {protein:.0f} g, fat {fat:.0f} g, carbs {carbs:.0f} g"


def day_line(totals: DayTotals) -> str:
    meals = f"{totals.meals} meal" + ("" if totals.meals == 1 else "s")
    return f"Today so far: {totals.kcal:,.0f} kcal in {meals} ({_macros(totals.protein_g, totals.fat_g, totals.carbs_g)})"


def _bold(text: str, whatsapp: bool) -> str:
    return f"*{text}*" if whatsapp else text


def meal_reply(
    items: Sequence[ItemRecord],
    day: DayTotals,
    whatsapp: bool,
    photos: int = 1,
    notes: Sequence[str] = (),
    hint: str | None = None,
    footer: Sequence[str] = (),
) -> str:
    """Per item "Apple ~180 g (150–210 g), 94 kcal", then the meal total and the day so far."""
    lines: list[str] = []
    for item in items[:MAX_ITEM_LINES]:
        prefix = f"Photo {item.photo_index + 1}: " if photos > 1 else ""
        lines.append(prefix + item_line(item, whatsapp))
    if len(items) > MAX_ITEM_LINES:
        rest = items[MAX_ITEM_LINES:]
        lines.append(f"+{len(rest)} more, {sum(round(i.kcal) for i in rest):,} kcal")
    if items:
        kcal = sum(round(i.kcal) for i in items)  # adds up to the lines above, as people will check
        macros = _macros(*(sum(getattr(i, k) for i in items) for k in ("protein_g", "fat_g", "carbs_g")))
        lines.append(_bold(f"Meal: {kcal:,} kcal", whatsapp) + f" ({macros})")
    else:
        lines.append(hint or NO_FOOD)
    lines.extend(notes)
    if items:
        lines.append(day_line(day))
    lines.extend(footer)
    return fit("\n".join(lines))


def today_reply(totals: DayTotals) -> str:
    return day_line(totals) if totals.meals else "Nothing logged today yet. Send a photo of your meal to start."


def undo_reply(items: Sequence[ItemRecord], kcal: float, totals: DayTotals) -> str:
    names = ", ".join(dict.fromkeys(i.display_name for i in items)) or "no items"
    return fit(f"Removed your last meal ({names}; {kcal:,.0f} kcal).\n{today_reply(totals)}")


def ack_reply(photos: int) -> str:
    what = "your photo" if photos == 1 else f"your {photos} photos"
    return f"Got {what}, analysing now. I'll send the result in a moment."


def limit_reply(hit: LimitHit, upgrades: Sequence[tuple[str, TierLimits]], upgrade_url: str | None) -> str:
    when = {"hour": "this hour", "day": "today", "month": "this month"}[hit.period]
    if hit.what == "rate":
        text = f"You're sending messages faster than I can keep up ({hit.limit} an hour). Please wait a little."
    elif hit.what == "messages":
        text = f"You've reached the {hit.limit} messages your {hit.tier} plan allows {when}."
    elif hit.remaining:
        text = f"You have {hit.remaining} photo analyses left {when}; please send fewer photos at once."
    else:
        text = f"You've used the {hit.limit} photo analyses your {hit.tier} plan allows {when}."
    if upgrades and hit.what != "rate":
        name, tier = upgrades[0]
        text += f" The {name} plan gives {tier.pitch}" + (f": {upgrade_url}" if upgrade_url else ".")
    return text


def fit(text: str, limit: int = MAX_CHARS) -> str:
    """Cut `text` at a line end so it fits in one Twilio message."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    return cut + "..."
