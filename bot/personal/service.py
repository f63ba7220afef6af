"""What the bot learns about a person, read and written through the store inside the message's unit of work:
`Learning(store).learn(user_id, now, signals.rated, cuisine=..., ...)` applies one signal of
`nutrition.personalization.signals` and keeps the result. Blocking, like the rest of the conversation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.storage.protocols import BotStore
from bot.storage.records import ItemRecord, UserRecord
from nutrition.personalization import signals
from nutrition.personalization.cuisines import cuisine_of_foods
from nutrition.personalization.preferences import RESETTABLE, UserPreferences, reset
from nutrition.personalization.use import portion_factor

log = logging.getLogger(__name__)
# what resetting a field also clears of what the person said for their meal plans (bot.plans.preferences)
SAID_KEYS = {
    "cuisines": ("cuisines",),
    "dislikes": ("dislikes", "max_spice"),
    "spice": ("max_spice",),
    "cooking_time": ("max_minutes",),
    "budget": ("budget",),
}


@dataclass(frozen=True)
class Adjusted:
    """A photo's items with the person's usual portions applied, and what was changed (for the reply and for
    learning from a later correction: the model's own grams)."""

    items: tuple[ItemRecord, ...]
    shown: dict  # {index: {food, model_g, factor}} of every photo item, adjusted or not
    changed: bool


def scaled(item: ItemRecord, factor: float) -> ItemRecord:
    """`item` with grams, their range, energy and macros multiplied by `factor`."""
    return ItemRecord(
        item.photo_index,
        item.name,
        item.display_name,
        item.grams * factor,
        item.grams_low * factor,
        item.grams_high * factor,
        item.kcal * factor,
        item.protein_g * factor,
        item.fat_g * factor,
        item.carbs_g * factor,
        item.confidence,
    )


def local_time(now: datetime, timezone: str):
    """The person's wall-clock time of `now` (naive UTC)."""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).time()


class Learning:
    def __init__(self, store: BotStore):
        self.store = store

    def get(self, user_id: int) -> UserPreferences:
        """What is learned about the person; a stored form this code can't read is logged and starts afresh."""
        try:
            return UserPreferences.from_dict(self.store.personal_preferences(user_id))
        except ValueError:
            log.exception("unreadable personal preferences of user %s: starting afresh", user_id)
            return UserPreferences.empty()

    def learn(self, user_id: int, now: datetime, signal: Callable[..., UserPreferences], *args, **kwargs):
        """Apply `signal(prefs, *args, at=now, **kwargs)` and store it; a signal that refuses its input (a
        ValueError: a rating of 7, no grams) or fails is logged and changes nothing (the store's errors propagate:
        the message's unit of work must fail whole)."""
        before, name = self.get(user_id), getattr(signal, "__name__", signal)
        try:
            after = signal(before, *args, at=now, **kwargs)
        except ValueError:
            log.warning("signal %s refused for user %s", name, user_id, exc_info=True)
            return before
        except Exception:  # a bug in the learning must not cost the person their meal or their reply
            log.exception("signal %s failed for user %s", name, user_id)
            return before
        self.store.set_personal_preferences(user_id, after.to_dict(), now)
        return after

    def reset(self, user_id: int, field: str, now: datetime) -> UserPreferences:
        """Forget one RESETTABLE field (or "all"), and what the person said for it in their plan preferences."""
        fields = RESETTABLE if field == "all" else (field,)
        prefs = self.get(user_id)
        for name in fields:
            prefs = reset(prefs, name)
        self.store.set_personal_preferences(user_id, prefs.to_dict(), now)
        said = self.store.meal_preferences(user_id)
        gone = {key for name in fields for key in SAID_KEYS.get(name, ())}
        if gone & set(said):
            self.store.set_meal_preferences(user_id, {k: v for k, v in said.items() if k not in gone}, now)
        if "portions" in fields:
            self.store.set_photo_portions(user_id, None, now)
        return prefs

    # what happens in the conversation
    def meal_logged(
        self, user: UserRecord, now: datetime, cuisine: str | None = None, foods: Sequence[str] = ()
    ) -> None:
        """A meal logged now: its time, and its cuisine (`cuisine`, else the one its `foods` are evidence of)."""
        cuisine = cuisine or cuisine_of_foods(foods)
        self.learn(
            user.id, now, signals.meal_logged, slot=None, local_time=local_time(now, user.timezone), cuisine=cuisine
        )

    def planned_meal(self, user_id: int, dish: dict, accepted: bool, now: datetime) -> None:
        """A planned meal eaten (`accepted`) or swapped away; `dish`: its cuisine, foods and spice."""
        self.learn(
            user_id,
            now,
            signals.planned,
            cuisine=dish.get("cuisine"),
            foods=list(dish.get("foods") or ()),
            spice=dish.get("spice"),
            accepted=accepted,
        )

    def rated_foods(self, user_id: int, foods: Sequence[str], rating: int, now: datetime, **dish) -> None:
        """A rating of a dish (`dish`: cuisine, spice when known)."""
        foods = [f for f in dict.fromkeys(f.strip().lower() for f in foods) if f]
        self.learn(
            user_id,
            now,
            signals.rated,
            cuisine=dish.get("cuisine"),
            foods=foods,
            spice=dish.get("spice"),
            rating=rating,
        )

    # photo portions
    def adjust_photo(self, user_id: int, items: Sequence[ItemRecord]) -> Adjusted:
        """The photo's items with the person's usual portion of each food applied (`portion_factor`)."""
        prefs = self.get(user_id)
        out, shown, changed = [], {}, False
        for index, item in enumerate(items):
            factor = self._factor(prefs, item.name, user_id)
            shown[str(index)] = {"food": item.name, "model_g": item.grams, "factor": factor or 1.0}
            if factor is not None:
                out.append(scaled(item, factor))
                changed = True
            else:
                out.append(item)
        return Adjusted(tuple(out), shown, changed)

    @staticmethod
    def _factor(prefs: UserPreferences, food: str, user_id: int) -> float | None:
        if not prefs.portions:
            return None
        try:
            return portion_factor(prefs, food)
        except Exception:  # the model's grams then: never lose the meal over an adjustment
            log.exception("portion factor of %r failed for user %s", food, user_id)
            return None

    def remember_photo(self, user_id: int, meal_id: int, adjusted: Adjusted, now: datetime) -> None:
        self.store.set_photo_portions(user_id, {"meal_id": meal_id, "items": adjusted.shown}, now)

    def corrected(
        self, user_id: int, meal_id: int, index: int, grams: float | None, removed: bool, now: datetime
    ) -> None:
        """Item `index` of meal `meal_id` corrected: to `grams` (a portion signal), else relabelled or `removed`."""
        if grams is not None:
            self.grams_corrected(user_id, meal_id, index, grams, now)
        else:
            self.item_changed(user_id, meal_id, index, removed, now)

    def grams_corrected(self, user_id: int, meal_id: int, index: int, corrected_g: float, now: datetime) -> None:
        """The person corrected the grams of item `index` of meal `meal_id`: a portion signal when that item came
        from a photo, against the model's own grams (before any adjustment); each item teaches once."""
        portions = self.store.photo_portions(user_id)
        if not portions or portions.get("meal_id") != meal_id:
            return
        items = dict(portions.get("items") or {})
        shown = items.pop(str(index), None)
        if shown is None:
            return
        self.learn(
            user_id,
            now,
            signals.portion_corrected,
            food=shown["food"],
            predicted_g=shown["model_g"],
            corrected_g=corrected_g,
        )
        self.store.set_photo_portions(user_id, {**portions, "items": items}, now)

    def item_changed(self, user_id: int, meal_id: int, index: int, removed: bool, now: datetime) -> None:
        """An item relabelled or removed: it teaches no portion, and removing shifts the ones after it."""
        portions = self.store.photo_portions(user_id)
        if not portions or portions.get("meal_id") != meal_id:
            return
        items = {}
        for key, value in (portions.get("items") or {}).items():
            i = int(key)
            if i == index:
                continue
            items[str(i - 1 if removed and i > index else i)] = value
        self.store.set_photo_portions(user_id, {**portions, "items": items}, now)
