"""The one table of commands: what people type for each, how the help text lists it, who answers it.

`parse_command` reads a message that is exactly one command word (the channel honours stop and start
before anything else); `classify` reads what the conversation answers, tolerant of case, punctuation and
typos, with an argument for goal and allergy; `HELP` lists them. Meals, corrections and answers to our
questions are read by `bot.coach.conversation`, after the commands.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime

from bot.coach import wording
from bot.ledger import period_keys
from bot.storage.protocols import BotStore
from bot.storage.records import UserRecord


@dataclass(frozen=True)
class Command:
    name: str
    shown: str | None  # how the help text lists it; None: not listed
    words: tuple[str, ...] = ()  # the message is exactly this word (any case, trailing "." or "!")
    phrases: tuple[str, ...] = ()  # more ways to say it, for `classify`
    by_channel: bool = False  # answered by the channel itself, whatever the limits (stop, start)


COMMANDS = (  # in the order the help text lists them
    Command(
        "today",
        "today",
        words=("today", "total", "totals"),
        phrases=("todays total", "how am i doing", "how am i doing today", "summary"),
    ),
    Command("undo", "undo", words=("undo",), phrases=("undo last meal", "undo that")),
    Command(
        "targets",
        "targets",
        phrases=("targets", "target", "my targets", "my target", "my calories", "calorie target", "daily target"),
    ),
    Command("profile", "profile", phrases=("profile", "my profile", "my info", "about me")),
    # read by bot.personal.intents (before these commands): listed here for the help text only
    Command("known", "what do you know about me"),
    Command("goal", "goal lose weight"),  # "goal: lose weight", read with its argument
    Command("allergy", "allergic to peanuts"),  # "I'm allergic to peanuts", likewise
    # read by bot.plans.intents (before these commands): listed here for the help text only
    Command("plan", "plan my week"),
    Command("shopping_list", "shopping list"),
    # read by bot.calendar.commands (before these commands): listed here for the help text only
    Command("calendar", "calendar"),
    Command("timezone", "timezone Europe/Paris"),
    Command(
        "export",
        "export my data",
        phrases=("export my data", "export", "export data", "download my data", "send me my data", "my data"),
    ),
    Command(
        "delete",
        "delete my data",
        phrases=(
            "delete my data",
            "delete my account",
            "delete everything",
            "forget me",
            "delete data",
            "erase my data",
            "remove my data",
            "delete me",
        ),
    ),
    # billing (bot.billing): "cancel" alone is not one of them (it answers the delete question)
    Command(
        "upgrade",
        "upgrade",
        phrases=("upgrade", "upgrade my plan", "upgrade plan", "plans", "pricing", "prices", "go premium"),
    ),  # "upgrade to premium", read with its argument
    Command(
        "billing",
        "billing",
        phrases=(
            "billing",
            "manage subscription",
            "manage my subscription",
            "my subscription",
            "subscription",
            "update my card",
            "update card",
            "payment method",
        ),
    ),
    Command(
        "cancel_subscription",
        "cancel subscription",
        phrases=("cancel subscription", "cancel my subscription", "end my subscription", "stop my subscription"),
    ),
    Command("stop", "stop", words=("stop", "unsubscribe"), by_channel=True),
    Command("start", None, words=("start", "unstop"), by_channel=True),
    Command("help", "help", words=("help", "?", "menu"), phrases=("commands", "what can you do", "how does this work")),
)

CONVERSATION_COMMANDS = frozenset(c.name for c in COMMANDS if not c.by_channel)
BILLING_COMMANDS = ("upgrade", "billing", "cancel_subscription")  # answered by the billing wing
_BY_WORD = {word: c.name for c in COMMANDS for word in c.words}
_BY_PHRASE = {phrase: c.name for c in COMMANDS if not c.by_channel for phrase in (*c.words, *c.phrases)}

HELP = (
    'Send a photo of your meal, a voice note, or type it ("2 eggs and a slice of toast", "150g chicken breast"): '
    "I'll log portions, calories and macros.\n"
    'Fix the last meal: "that was a pear", "it was 150 g", "remove the bread".\n'
    f"Commands: {', '.join(c.shown for c in COMMANDS if c.shown)}."
)

_GOAL = re.compile(r"^(?:my\s+)?(?P<word>[a-z]+)\s*(?:is|:|=)?\s+(?P<arg>.+)$")
_UPGRADE = re.compile(r"^(?:upgrade|subscribe|switch)\s+(?:me\s+)?(?:to\s+)?(?:the\s+)?(?P<arg>[a-z]+)(?:\s+plan)?$")
_ALLERGY = re.compile(r"^(?:i'?m\s+|i\s+am\s+|im\s+)?(?:also\s+)?(?P<word>[a-z]+)(?:\s+(?:to|of))?\s*:?\s+(?P<arg>.+)$")


def parse_command(body: str) -> str | None:
    """'Today!' → 'today'; None for anything that is not exactly a command word."""
    return _BY_WORD.get(body.strip().strip(".!").lower())


@dataclass(frozen=True)
class Intent:
    name: str
    arg: str = ""


def normalise(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9?' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip().replace("'", "")


def _close(word: str, target: str, cutoff: float = 0.75) -> bool:
    return word == target or difflib.SequenceMatcher(None, word, target).ratio() >= cutoff


def classify(text: str) -> Intent | None:
    """'Tody' → today, 'EXPORT MY DATA!' → export, 'goal: loose weight' → goal('loose weight')."""
    raw = text.strip().lower().replace("’", "'")
    plain = normalise(text)
    if not plain:
        return None
    if plain in _BY_PHRASE:
        return Intent(_BY_PHRASE[plain])
    if (m := _UPGRADE.match(plain)) and m["arg"] not in ("my", "plan"):
        return Intent("upgrade", m["arg"])
    if (m := _GOAL.match(raw.rstrip(".!"))) and _close(m["word"], "goal", 0.74):
        return Intent("goal", m["arg"].strip())
    if (m := _ALLERGY.match(raw.rstrip(".!"))) and any(
        _close(m["word"], w, 0.8) for w in ("allergic", "allergy", "allergies")
    ):
        return Intent("allergy", m["arg"].strip())
    if len(plain.split()) <= 4 and len(plain) >= 4:
        # a typo rarely hits the first letter, while a food often looks like a command without it ("rice", "prices")
        close = difflib.get_close_matches(plain, [p for p in _BY_PHRASE if p[0] == plain[0]], n=1, cutoff=0.8)
        if close:
            return Intent(_BY_PHRASE[close[0]])
    return None


def run_command(command: str, store: BotStore, user: UserRecord, now: datetime) -> str:
    """Do help, today, undo, stop or start for `user` and return the reply (blocking: call from a thread)."""
    day = period_keys(now, user.timezone)["day"]
    if command == "help":
        return HELP
    if command == "today":
        return wording.today_reply(store.day_totals(user.id, day))
    if command == "undo":
        meal = store.undo_last_meal(user.id, now)
        if meal is None:
            return wording.NOTHING_TO_UNDO
        return wording.undo_reply(meal.items, meal.kcal, store.day_totals(user.id, day))
    if command == "stop":
        store.set_opted_out(user.id, True)
        return wording.STOPPED
    if command == "start":
        store.set_opted_out(user.id, False)
        return wording.STARTED
    raise ValueError(f"unknown command {command!r}; known: {sorted(set(_BY_WORD.values()))}")
