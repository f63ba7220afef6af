"""The few text commands: help, today, undo, stop, start."""

from __future__ import annotations

from datetime import datetime

from bot import replies
from bot.ledger import period_keys
from bot.store import BotStore, UserRecord

COMMANDS = frozenset({"help", "today", "undo", "stop", "start"})
ALIASES = {"?": "help", "menu": "help", "total": "today", "totals": "today", "unsubscribe": "stop", "unstop": "start"}


def parse_command(body: str) -> str | None:
    """'Today!' → 'today'; None for anything that is not a command."""
    word = body.strip().strip(".!").lower()
    word = ALIASES.get(word, word)
    return word if word in COMMANDS else None


def run_command(command: str, store: BotStore, user: UserRecord, now: datetime) -> str:
    """Do `command` for `user` and return the reply (blocking: call from a thread)."""
    day = period_keys(now, user.timezone)["day"]
    if command == "help":
        return replies.HELP
    if command == "today":
        return replies.today_reply(store.day_totals(user.id, day))
    if command == "undo":
        meal = store.undo_last_meal(user.id, now)
        if meal is None:
            return replies.NOTHING_TO_UNDO
        return replies.undo_reply(meal.items, meal.kcal, store.day_totals(user.id, day))
    if command == "stop":
        store.set_opted_out(user.id, True)
        return replies.STOPPED
    if command == "start":
        store.set_opted_out(user.id, False)
        return replies.STARTED
    raise ValueError(f"unknown command {command!r}; known: {sorted(COMMANDS)}")
