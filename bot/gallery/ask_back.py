"""Ask about the foods a photo's model could not name, read the answer, log it, keep it as a labelled crop.

The photo's reply asks about its first unknown food ("I can't tell what the food on the left is: (1) pasta,
(2) rice, or tell me what it was"); the next message answers it with a number or a food's name, read as the
typed-meal path reads names. Then the next unknown food is asked about, one at a time. A command, a typed
meal with amounts ("2 eggs and toast") or an unreadable text leaves the question waiting; a new photo with
its own unknown foods replaces it; after `question_ttl_s` it expires. Blocking: call from a worker thread.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Protocol

from bot.chat_text import bold, day_line, fit, is_whatsapp, item_line, macros_line
from bot.gallery.foods import Food, food_named, photo_item, search_choices
from bot.gallery.matching import GalleryMatch, best_match, decode_embedding, embedding_bytes
from bot.gallery.wording import UnknownFood, question_line, where_in
from bot.settings import BotSettings
from bot.storage.protocols import BotStore
from bot.storage.records import ItemRecord, MessageRecord, PhotoQuestion, UserRecord
from nutrition.meal_text import Part, split_parts
from nutrition.units import UnitError
from nutrition.usda_table import NutritionTable

log = logging.getLogger(__name__)

_NUMBER = re.compile(r"^\s*\(?#?(\d{1,2})\)?\s*[.!]?\s*$")
# "it's pasta", "that was rice": said as an answer, so read even with an amount or a name we must look up
_SAYS = re.compile(
    r"^\s*(?:(?:it|that|this)\s*(?:'s|’s|s|\s+is|\s+was)|(?:they|those|these)\s*(?:'re|’re|\s+are|\s+were))\s+",
    re.IGNORECASE,
)
_ITEM_KEYS = ("box", "grams", "grams_low", "grams_high", "grams_basis", "confidence", "suggestions", "embedding")


def unknown_food(question: PhotoQuestion) -> UnknownFood:
    """How the reply names a question's food."""
    names = tuple(c["display_name"] for c in question.choices)
    return UnknownFood(question.photo_index, names, question.item.get("grams"), question.item.get("where"))


class Tables(Protocol):
    """Where the nutrition table comes from (`bot.coach.advisor.TableSource`)."""

    def get(self) -> NutritionTable | None: ...
    def unavailable_text(self) -> str: ...


class AskBack:
    """Items come as the model server's JSON (`AnalyzedItem.model_dump()`): box, grams…, suggestions, embedding."""

    def __init__(self, store: BotStore, tables: Tables, settings: BotSettings):
        self.store = store
        self.tables = tables
        self.settings = settings

    # the photo's side
    def gallery_item(self, user_id: int, item: dict, photo_index: int) -> tuple[ItemRecord, GalleryMatch] | None:
        """`item` named by the labelled crops it looks like, sized and priced; None when none is close enough."""
        query = decode_embedding(item.get("embedding"))
        table = self.tables.get()
        if query is None or table is None:
            return None
        crops = self.store.labelled_crops(with_embedding=True)
        settings = self.settings
        match = best_match(query, user_id, crops, settings.gallery_min_cosine, settings.gallery_confirmations)
        if match is None:
            return None
        food = food_named(table, match.label, match.display_name, match.ndb)
        made = photo_item(table, food, photo_index, item) if food else None
        if made is None:
            return None
        logged, _ = made
        return ItemRecord(**{**vars(logged), "confidence": round(match.cosine, 3)}), match

    def question(self, item: dict, photo_index: int, photo: dict, image: dict | None, photos: int) -> dict:
        """What the store keeps to ask about `item` (see `PhotoQuestionStore.set_photo_questions`); `photos`:
        how many the message had, for "the food on the left of photo 2"."""
        table = self.tables.get()
        choices = []
        for s in item.get("suggestions", [])[:3]:
            offered = {"name": s["name"], "display_name": s["display_name"], "ndb": s.get("ndb")}
            food = food_named(table, s["name"], s["display_name"], s.get("ndb")) if table is not None else None
            if food is None and table is not None:  # a dish the curated names lack ('pizza'): SR28's closest
                found = search_choices(table, s["name"], 1)
                food = Food(found[0].label, found[0].ndb, s["display_name"]) if found else None
            if table is None:
                choices.append(offered)
            elif food is not None and food.choice() not in choices:
                choices.append(food.choice())
        kept = {k: item.get(k) for k in _ITEM_KEYS}
        kept["image"] = image
        kept["where"] = where_in(kept.get("box"), kept["image"])
        kept["photos"] = photos
        return {"photo_index": photo_index, "photo": photo, "item": kept, "choices": choices}

    # the answer's side
    def answer(self, user: UserRecord, message: MessageRecord, body: str, now: datetime) -> tuple[str, ...] | None:
        """Read `body` as the answer to the question asked; None when none is asked or it is not an answer."""
        question = self.store.photo_question(user.id)
        if question is None:
            return None
        if question.asked_at and now - question.asked_at > timedelta(seconds=self.settings.question_ttl_s):
            dropped = self.store.clear_photo_questions(user.id)
            self.store.add_event("question_expired", now, message.sid, user.id, detail={"questions": dropped})
            return None
        table = self.tables.get()
        number = _NUMBER.match(body)
        said = _SAYS.sub("", body, count=1)
        says = said != body
        if number:
            choice = int(number[1]) - 1
            if not 0 <= choice < len(question.choices):
                why = "Please answer with one of the numbers, or" if question.choices else "Please"
                return (self._again(question, f"{why} tell me what it was."),)
            if table is None:
                return (self.tables.unavailable_text(),)
            picked = question.choices[choice]
            food = food_named(table, picked["name"], picked["display_name"], picked.get("ndb"))
            if food is None:
                return (self._again(question, f"I can't find {picked['display_name']} in my food table."),)
            return self._log(user, message, question, food, None, body, "choice", now)
        part = _one_part(said)
        if part is None or part.text.endswith("?") or (not says and (part.amount is not None or part.unit)):
            return None  # a question, a typed meal, several foods: not an answer
        if table is None:
            return (self.tables.unavailable_text(),) if says else None
        picked = self._from_choices(question, part.food)
        if picked is not None:
            food = food_named(table, picked["name"], picked["display_name"], picked.get("ndb"))
        else:
            food = food_named(table, part.food)
        if food is not None:
            return self._log(user, message, question, food, part, body, "text", now)
        if not says:
            return None
        found = search_choices(table, part.food)
        if not found:
            return (self._again(question, f'I don\'t know "{part.food}"; try a common name, e.g. "pasta".'),)
        self.store.set_question_choices(question.id, [f.choice() for f in found])
        asked = self.store.photo_question(user.id) or question
        return (self._again(asked, f'Which "{part.food}" do you mean?'),)

    @staticmethod
    def _from_choices(question: PhotoQuestion, words: str) -> dict | None:
        """The choice `words` names ("pasta" when we offered "(1) pasta")."""
        for choice in question.choices:
            if words in (choice["name"].lower(), choice["display_name"].lower()):
                return choice
        return None

    def _again(self, question: PhotoQuestion, why: str) -> str:
        return f"{why}\n{question_line(unknown_food(question), question.item.get('photos', 1))}"

    def _log(
        self,
        user: UserRecord,
        message: MessageRecord,
        question: PhotoQuestion,
        food: Food,
        said: Part | None,
        body: str,
        how: str,
        now: datetime,
    ) -> tuple[str, ...]:
        table = self.tables.get()
        made = photo_item(table, food, question.photo_index, question.item, said)
        item, portion = made if made else (None, None)
        crop = {
            "label": food.label,
            "ndb": food.ndb,
            "display_name": food.display_name,
            "answer": body.strip(),
            "how": how,
            "embedding": embedding_bytes(question.item.get("embedding")),
        }
        saved = self.store.answer_photo_question(question.id, crop, item, now)
        if saved is None:  # answered a moment ago by another copy of this conversation
            return ("Thanks, I have that one already.",)
        detail = {"question": question.id, "label": food.label, "how": how, "logged": saved.meal is not None}
        self.store.add_event("question_answered", now, message.sid, user.id, saved.meal and saved.meal.id, detail)
        whatsapp = is_whatsapp(message.from_addr)
        lines = [f"Got it: {food.display_name.lower()}. I'll remember it."]
        if item is None:
            lines.append(f'How much was it? Type it as a meal, e.g. "150 g {food.display_name.lower()}".')
        elif saved.meal is None:
            lines.append("That meal was undone, so I haven't added it.")
        else:
            note = f" ({portion}, a typical portion)" if portion else ""
            lines.append(item_line(item, whatsapp) + note)
            meal = saved.meal
            kcal = sum(round(i.kcal) for i in meal.items)
            lines.append(
                bold(f"Meal: {kcal:,} kcal", whatsapp) + f" ({macros_line(meal.protein_g, meal.fat_g, meal.carbs_g)})"
            )
            lines.append(day_line(saved.totals))
        if saved.next is not None:
            lines.append(question_line(unknown_food(saved.next), saved.next.item.get("photos", 1)))
        return (fit("\n".join(lines)),)


def _one_part(text: str) -> Part | None:
    try:
        parts = split_parts(text)
    except (UnitError, ValueError):
        return None
    return parts[0] if len(parts) == 1 and parts[0].food else None
