"""What a message asks of the meal plan: "plan my week", "day 2", "swap tuesday dinner", "no fish", "i ate out on
friday", "shopping list", "i have rice and eggs", "rate 4", "links", "budget 50"; None when it is not about plans.

Strict on purpose: every word of a plan request must be one we know, so "plan to eat less" or "change my goal" fall
through to the rest of the conversation.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass

from nutrition.planning.recipes import SLOTS


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


WEEKDAYS = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6}
_WEEKDAY_WORDS = {
    **{name: day for name, day in WEEKDAYS.items()},
    **{name + "s": day for name, day in WEEKDAYS.items()},  # "tuesday's" once the apostrophe is gone
    **dict(mon=0, tue=1, tues=1, wed=2, weds=2, thu=3, thur=3, thurs=3, fri=4, sat=5, sun=6),
}
_SLOT_WORDS = {
    **{slot: slot for slot in SLOTS},
    **{slot + "s": slot for slot in SLOTS},
    **{slot + "es": slot for slot in SLOTS},  # lunches
    "supper": "dinner",
    "night": "dinner",
}
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_FILLER = _words("please pls the my a an for on of s me is whats what for meal meals plan show it at")
_PLAN_WORDS = _words(
    "make me a an create build new give get plan plans meal meals for my the this next week weeks weekly days day "
    "of with and only just please leftover leftovers all"
)
_SHOPPING = (
    "shopping list",
    "shopping",
    "grocery list",
    "groceries",
    "groceries list",
    "my shopping list",
    "the shopping list",
    "show shopping list",
    "send shopping list",
    "send me the shopping list",
    "what do i buy",
    "what do i need to buy",
    "what should i buy",
    "ingredients",
    "ingredient list",
)
_LINKS = (
    "links",
    "link",
    "order",
    "order groceries",
    "order the groceries",
    "order online",
    "buy groceries",
    "buy online",
    "grocery links",
    "cart",
    "instacart",
    "amazon",
    "amazon fresh",
    "get groceries delivered",
)
# "no thanks" is not a dislike
_NOT_FOOD = _words(
    "thanks thank thx problem problems worries idea way need sorry ok okay i it that this yes more not clue plan "
    "allergy allergies budget one"
)
_HAVE_FILLER = _words(
    "some a an the already still plenty lots of at home in fridge left over g kg lb lbs oz bag bags pack packs packet "
    "box boxes can cans tin tins dozen bottle bottles jar jars cup cups"
)
_RESET_DISLIKES = ("clear dislikes", "clear my dislikes", "reset dislikes", "forget my dislikes", "no dislikes")
_DISLIKE_FILLER = _words("please in my plan plans the any anymore again food foods dish dishes meals")

_RATE = (
    re.compile(
        r"^(?:i )?(?:rate|rating|rated|score|give it|id give it|id rate it)(?: it| that| this)?(?: a)? ?(?P<n>[1-5])"
        r"(?: ?(?:/ ?5|out of 5|stars?))?(?P<rest>(?: [a-z0-9 ]+)?)$"
    ),
    re.compile(
        r"^(?:that|it|this|dinner|lunch|breakfast|snack) was (?:a )?(?P<n>[1-5])(?: ?(?:/ ?5|out of 5|stars?))?$"
    ),
    re.compile(r"^(?P<n>[1-5]) ?(?:/ ?5|out of 5|stars?)$"),
    re.compile(r"^rate (?P<rest>[a-z0-9 ]+?) (?P<n>[1-5])(?: ?(?:/ ?5|out of 5|stars?))?$"),
)
_BUDGET = re.compile(r"^(?:my )?(?:weekly )?budget(?: is| of| to| at)?(?: (?P<value>.+))?$")
_MONEY = re.compile(r"^\$? ?(?P<usd>\d+(?:\.\d+)?)(?: ?(?:dollars?|usd|bucks))?(?: (?:a|per) week)?$")
_ATE_OUT = re.compile(
    r"^(?:i |we )?(?:ate|eat|eating|am eating|im eating|will eat|ill eat|were eating|going) out(?P<rest>(?: .+)?)$"
)
_SKIP = re.compile(r"^skip(?P<rest> .+)$")
_SWAP = re.compile(r"^(?:can you |please )?(?:swap|change|replace|switch)(?P<rest>(?: .+)?)$")
_HAVE = re.compile(r"^(?:i |we )?(?:already |still )?(?:have|ive got|have got|got|weve got)(?: got)? (?P<items>.+)$")
_DISLIKE = re.compile(
    r"^(?:(?P<explicit>no more|i dont like|i dont eat|i dont want|i hate|i dislike|dislike|hold the|nothing with) "
    r"|no )(?P<words>.+)$"
)


@dataclass(frozen=True)
class DayRef:
    """A day of the plan as said: "day 2" (`index` 1), "tuesday" (`weekday` 1), "tomorrow" (`offset` 1)."""

    index: int | None = None
    weekday: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class PlanIntent:
    """`name`: plan, show, swap, dislike, reset_dislikes, ate_out, shopping, links, have, rate, budget."""

    name: str
    day: DayRef | None = None
    slot: str | None = None
    days: int = 7
    slots: tuple[str, ...] = SLOTS
    leftovers: bool = False
    words: tuple[str, ...] = ()  # dislikes, or items the person has
    explicit: bool = True  # "i don't like fish" (always a dislike) vs "no fish" (one only when there is a plan)
    rating: int | None = None
    budget: str | float | None = None
    learned: bool = False  # a dislike already learned as something else ("swap quinoa for rice"): no signal again


def normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("'", "")
    text = re.sub(r"[^a-z0-9$/.]+", " ", text)
    text = re.sub(r"(?<![0-9])\.|\.(?![0-9])", " ", text)  # a full stop, not a decimal point
    return re.sub(r"\s+", " ", text).strip()


def parse(text: str) -> PlanIntent | None:
    said = normalise(text)
    if not said or len(said.split()) > 12:
        return None
    for reader in (_budget, _rate, _shopping, _ate_out, _swap, _plan, _show, _have, _dislike):
        intent = reader(said)
        if intent is not None:
            return intent
    return None


def _when(words: list[str]) -> tuple[DayRef | None, str | None, bool]:
    """The day and slot among `words` (fillers dropped); ok False when other words are left over."""
    day, slot, rest = None, None, []
    i = 0
    while i < len(words):
        word = words[i]
        following = words[i + 1] if i + 1 < len(words) else ""
        if word == "day" and (following.isdigit() or following in _NUMBERS):
            day = DayRef(index=int(following) - 1 if following.isdigit() else _NUMBERS[following] - 1)
            i += 2
            continue
        if word in _WEEKDAY_WORDS:
            day = DayRef(weekday=_WEEKDAY_WORDS[word])
        elif word in ("today", "todays", "tonight"):
            day = DayRef(offset=0)
            slot = "dinner" if word == "tonight" else slot
        elif word in ("tomorrow", "tomorrows"):
            day = DayRef(offset=1)
        elif word == "yesterday":
            day = DayRef(offset=-1)
        elif word in _SLOT_WORDS:
            slot = _SLOT_WORDS[word]
        elif word not in _FILLER and word not in ("to", "in", "from", "with", "something", "else", "out", "for"):
            rest.append(word)
        i += 1
    return day, slot, not rest


def _budget(said: str) -> PlanIntent | None:
    if said in ("no budget", "no budget limit"):
        return PlanIntent("budget", budget="generous")
    m = _BUDGET.match(said)
    if not m:
        return None
    value = (m["value"] or "").strip()
    if value in ("tight", "low", "cheap", "small"):
        return PlanIntent("budget", budget="tight")
    if value in ("normal", "medium", "average", "moderate"):
        return PlanIntent("budget", budget="normal")
    if value in ("generous", "none", "no limit", "unlimited", "high", "any", "off"):
        return PlanIntent("budget", budget="generous")
    if money := _MONEY.match(value):
        return PlanIntent("budget", budget=float(money["usd"]))
    return PlanIntent("budget")  # "budget" alone or unreadable: say how to set it


def _rate(said: str) -> PlanIntent | None:
    for pattern in _RATE:
        m = pattern.match(said)
        if not m:
            continue
        rest = (m.groupdict().get("rest") or "").split()
        day, slot, ok = _when(rest)
        if ok:
            return PlanIntent("rate", day=day, slot=slot, rating=int(m["n"]))
    return None


def _shopping(said: str) -> PlanIntent | None:
    plain = said.replace("please", "").strip()
    if plain in _SHOPPING:
        return PlanIntent("shopping")
    if plain in _LINKS:
        return PlanIntent("links")
    if plain in _RESET_DISLIKES:
        return PlanIntent("reset_dislikes")
    if 2 <= len(plain.split()) <= 3 and difflib.get_close_matches(plain, _SHOPPING, n=1, cutoff=0.85):
        return PlanIntent("shopping")
    return None


def _ate_out(said: str) -> PlanIntent | None:
    m = _ATE_OUT.match(said) or _SKIP.match(said)
    if not m:
        return None
    day, slot, ok = _when(m["rest"].split())
    if not ok or (day is None and said.startswith("skip")):
        return None
    return PlanIntent("ate_out", day=day or DayRef(offset=0), slot=slot)


def _swap(said: str) -> PlanIntent | None:
    m = _SWAP.match(said)
    if not m:
        return None
    day, slot, ok = _when(m["rest"].split())
    return PlanIntent("swap", day=day, slot=slot) if ok else None


def _plan(said: str) -> PlanIntent | None:
    words = said.split()
    if "plan" not in words and "plans" not in words:
        return None
    if not set(words) <= _PLAN_WORDS | set(_SLOT_WORDS) | set(_NUMBERS) | {w for w in words if w.isdigit()}:
        return None
    if words[0] in ("my", "the", "show") or said in ("plan", "meal plan"):
        return None if said not in ("plan", "meal plan") else PlanIntent("plan")
    days = 7
    for before, word in itertools.pairwise(words):
        if word in ("day", "days") and (before.isdigit() or before in _NUMBERS):
            days = int(before) if before.isdigit() else _NUMBERS[before]
    if not 1 <= days <= 7:
        return None
    slots = tuple(s for s in SLOTS if s in {_SLOT_WORDS[w] for w in words if w in _SLOT_WORDS})
    return PlanIntent("plan", days=days, slots=slots or SLOTS, leftovers=bool({"leftover", "leftovers"} & set(words)))


def _show(said: str) -> PlanIntent | None:
    words = said.split()
    marked = bool({"show", "plan", "whats", "what"} & set(words)) or said.startswith("day ")
    day, slot, ok = _when(words)
    if not ok or not (marked or day is not None):
        return None
    if day == DayRef(offset=0) and not marked and said in ("today", "todays"):
        return None  # "today" is the day's totals (bot.coach.commands)
    return PlanIntent("show", day=day, slot=slot)


def _have(said: str) -> PlanIntent | None:
    m = _HAVE.match(said)
    if not m:
        return None
    items = _items(m["items"], _HAVE_FILLER)
    return PlanIntent("have", words=items) if items else None


def _dislike(said: str) -> PlanIntent | None:
    m = _DISLIKE.match(said)
    if not m:
        return None
    words = _items(m["words"], _DISLIKE_FILLER)
    if not words or any(w in _NOT_FOOD or w.isdigit() for w in words) or len(m["words"].split()) > 6:
        return None
    return PlanIntent("dislike", words=words, explicit=m["explicit"] is not None)


def _items(text: str, filler: frozenset[str]) -> tuple[str, ...]:
    """'rice, eggs and some milk' → ('rice', 'eggs', 'milk')."""
    chunks = re.split(r",|/|&|\band\b|\bor\b|\bnor\b|\bplus\b", text)
    items = (" ".join(w for w in chunk.split() if w not in filler and not w.isdigit()) for chunk in chunks)
    return tuple(dict.fromkeys(item for item in items if item))
