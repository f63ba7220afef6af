"""Typed meals: read them against the nutrition table, log them, or keep them while we ask which food or how much.

The half-read meal waits in the store (`set_clarification`) so the answer can come in the next message.
Blocking: call from a worker thread.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.coach.advisor import TableSource
from bot.coach.wording import question_text
from bot.ledger import period_keys
from bot.storage.protocols import BotStore
from bot.storage.records import DayTotals, ItemRecord, MessageRecord, UserRecord
from nutrition.meal_text import (
    LoggedFood,
    MealTextError,
    Part,
    Question,
    grams_of,
    known_food,
    log_part,
    read_meal,
    split_parts,
)
from nutrition.units import UnitError
from nutrition.usda_table import Nutrients

Outcome = str | tuple[list[LoggedFood], DayTotals]  # a question or refusal to send, or what was logged


def _part(d: dict) -> Part:
    return Part(d["text"], d["amount"], d["unit"], d["food"])


def _food_dict(f: LoggedFood) -> dict:
    return {
        "part": vars(f.part),
        "ndb": f.ndb,
        "name": f.name,
        "grams": f.grams,
        "ml": f.ml,
        "nutrients": list(f.nutrients.astuple()),
    }


def _food(d: dict) -> LoggedFood:
    return LoggedFood(_part(d["part"]), d["ndb"], d["name"], d["grams"], d["ml"], Nutrients(*d["nutrients"]))


def _question_dict(q: Question) -> dict:
    return {"part": vars(q.part), "kind": q.kind, "choices": [list(c) for c in q.choices], "ndb": q.ndb}


def _question(d: dict) -> Question:
    return Question(_part(d["part"]), d["kind"], tuple(tuple(c) for c in d["choices"]), d["ndb"])


class TypedMeals:
    def __init__(self, store: BotStore, tables: TableSource):
        self.store = store
        self.tables = tables

    def log(self, user: UserRecord, message: MessageRecord, body: str, now: datetime) -> Outcome:
        table = self.tables.get()
        if table is None:
            return self.tables.unavailable_text()
        try:
            meal = read_meal(body, table)
        except (MealTextError, UnitError) as exc:
            return f'Sorry, I couldn\'t read that meal ({exc}). Try e.g. "2 eggs and a slice of toast".'
        unknown = [q for q in meal.questions if q.kind == "unknown"]
        if unknown:
            return question_text(unknown[0])
        return self._continue(user, message, body, meal.foods, meal.questions, now)

    def _continue(self, user, message, body, foods, questions, now) -> Outcome:
        if questions:
            payload = {
                "text": body,
                "foods": [_food_dict(f) for f in foods],
                "questions": [_question_dict(q) for q in questions],
            }
            self.store.set_clarification(user.id, "meal", payload, now)
            return question_text(questions[0])
        self.store.clear_clarification(user.id)
        return self._save(user, message, foods, now)

    def _save(self, user: UserRecord, message: MessageRecord, foods: list[LoggedFood], now: datetime) -> Outcome:
        items = [
            ItemRecord(
                0,
                f.ndb,
                f.name,
                f.grams,
                f.grams,
                f.grams,
                f.nutrients.kcal,
                f.nutrients.protein_g,
                f.nutrients.fat_g,
                f.nutrients.carbs_g,
                1.0,
            )
            for f in foods
        ]
        day = period_keys(now, user.timezone)["day"]
        _, totals = self.store.save_meal(message.id, user.id, day, now, items, {}, [], source="text")
        return foods, totals

    def answer(self, user: UserRecord, message: MessageRecord, body: str, now: datetime) -> Outcome | None:
        """Read `body` as the answer to our pending question; None when there is none or it doesn't answer it."""
        pending = self.store.get_clarification(user.id)
        if pending is None:
            return None
        table = self.tables.get()
        payload = pending.payload
        foods = [_food(d) for d in payload["foods"]]
        questions = [_question(d) for d in payload["questions"]]
        question = questions[0]
        result = None
        if question.kind == "which":
            if m := re.fullmatch(r"\s*#?(\d)\s*\.?\s*", body):
                choice = int(m[1]) - 1
                if 0 <= choice < len(question.choices) and table is not None:
                    result = log_part(table, question.part, question.choices[choice][0], None)
        elif question.kind == "how_much" and table is not None:
            try:
                parts = split_parts(body)
            except (UnitError, ValueError):
                parts = []
            if len(parts) == 1 and (parts[0].amount is not None or parts[0].unit):
                said = parts[0]
                unit = said.unit or (said.food if said.food in ("piece", "pieces") else None)
                weighed = grams_of(table, question.ndb, said.amount, unit, known_food(question.part.food))
                if weighed is not None:
                    part = Part(question.part.text, said.amount, unit, question.part.food)
                    result = log_part(table, part, question.ndb, known_food(question.part.food))
        if result is None:
            self.store.clear_clarification(user.id)  # they moved on: don't trap them in our question
            return None
        rest = questions[1:]
        if isinstance(result, Question):
            rest = [result, *rest]
        else:
            foods.append(result)
        return self._continue(user, message, payload["text"], foods, rest, now)
