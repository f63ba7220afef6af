"""Meals, their items, each day's totals and corrections kept as labelled examples: `MealStore` and
`LabelledExampleStore` on DynamoDB, all in the person's partition `USER#<id>`:

* `MEAL#<eaten_at>#<id>`: a meal with its items (JSON); the sort key orders meals as "latest" means, so the
  latest one still logged is the first of a descending Query;
* `MEALMSG#<message id>`: which meal a message logged, written with the meal by a conditional put (a message
  logs one meal, whoever races);
* `DAY#<day>`: the day's totals, changed only by ADD in the transaction of the meal's change;
* `EXAMPLE#<id>`: a correction kept as a training label.

A meal changes under its `version` (a conditional write): a correction racing an undo retries on the new state.
"""

from __future__ import annotations

import json

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.people import user_pk
from bot.storage.dynamo.table import dumps, encode, number, pad, parse_when, values, when
from bot.storage.records import ITEM_FIELDS, DayTotals, ItemRecord, MealRecord

NUMERIC_TOTALS = ("kcal", "protein_g", "fat_g", "carbs_g")
SUMS = (*NUMERIC_TOTALS, "grams")
_TRIES = 8


def item_dict(item: ItemRecord) -> dict:
    return {k: getattr(item, k) for k in ITEM_FIELDS}


def meal_record(item: dict) -> MealRecord:
    items = tuple(ItemRecord(**i) for i in json.loads(item["items"]))
    sums = (float(item[k]) for k in ("kcal", "protein_g", "fat_g", "carbs_g", "grams"))
    return MealRecord(int(item["id"]), int(item["user_id"]), item["day"], items, *sums)


def meal_sums(items: list[dict]) -> dict:
    return {k: sum(float(i[k]) for i in items) for k in SUMS}


def day_op(user_id: int, day: str, meals: int, delta: dict) -> dict:
    """The ADD of a change to the day's totals, for a transaction."""
    adds = ", ".join(f"{k} :{k}" for k in NUMERIC_TOTALS)
    named = {k: number(delta.get(k, 0.0)) for k in NUMERIC_TOTALS}
    return {
        "Update": {
            "Key": encode({"PK": user_pk(user_id), "SK": f"DAY#{day}"}),
            "UpdateExpression": f"SET #type = :type, #day = :day ADD meals :meals, {adds}",
            "ExpressionAttributeNames": {"#type": "type", "#day": "day"},
            "ExpressionAttributeValues": values(type="daily_total", day=day, meals=meals, **named),
        }
    }


def meal_update_op(meal: dict, items: list[dict], deleted_at: str | None = None) -> dict:
    """Replace a meal's items (and sums) if nobody changed it since it was read (`version`)."""
    sums = {k: number(v) for k, v in meal_sums(items).items()}
    sets = ["#items = :items", "version = :next", *(f"{k} = :{k}" for k in SUMS)]
    named = {"items": dumps(items), "next": int(meal.get("version", 0)) + 1, "seen": int(meal.get("version", 0))}
    if deleted_at is not None:
        sets.append("deleted_at = :deleted_at")
        named["deleted_at"] = deleted_at
    return {
        "Update": {
            "Key": encode({"PK": meal["PK"], "SK": meal["SK"]}),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "version = :seen AND attribute_not_exists(deleted_at)",
            "ExpressionAttributeNames": {"#items": "items"},
            "ExpressionAttributeValues": values(**named, **sums),
        }
    }


def delta(before: dict, after: dict) -> dict:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in NUMERIC_TOTALS}


class DynamoMeals(DynamoBase):
    def _totals(self, user_id: int, day: str) -> DayTotals:
        row = self.table.get(user_pk(user_id), f"DAY#{day}")
        if row is None:
            return DayTotals(day)
        # float sums drift after undo; nobody eats a negative calorie
        return DayTotals(day, int(row.get("meals", 0)), *(max(0.0, float(row.get(k, 0))) for k in NUMERIC_TOTALS))

    def meal_of_message(self, user_id: int, message_id: int) -> dict | None:
        key = self.table.get(user_pk(user_id), f"MEALMSG#{message_id}")
        return self.table.get(user_pk(user_id), key["meal_sk"]) if key else None

    def new_meal_ops(self, user_id, message_id, day, eaten_at, items: list[dict], models, photos, source) -> tuple:
        """The writes of a new meal (key, meal, day totals) and the meal item."""
        meal_id = self.table.next_id("meal")
        sk = f"MEAL#{when(eaten_at)}#{pad(meal_id)}"
        sums = meal_sums(items)
        meal = {
            "PK": user_pk(user_id),
            "SK": sk,
            "type": "meal",
            "id": meal_id,
            "user_id": user_id,
            "message_id": message_id,
            "day": day,
            "eaten_at": when(eaten_at),
            "source": source,
            "models": dumps(models or {}),
            "photos": dumps(photos or []),
            "items": dumps(items),
            "version": 0,
            **{k: number(v) for k, v in sums.items()},
        }
        key = {"PK": user_pk(user_id), "SK": f"MEALMSG#{message_id}", "type": "meal_key", "meal_sk": sk}
        ops = [
            {"Put": {"Item": encode(key), "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Put": {"Item": encode(meal)}},
            day_op(user_id, day, 1, sums),
        ]
        return ops, meal

    def save_meal(self, message_id, user_id, day, eaten_at, items, models, photos, source="photo"):
        for _ in range(_TRIES):
            existing = self.meal_of_message(user_id, message_id)
            if existing is not None:
                return meal_record(existing), self._totals(user_id, existing["day"])
            ops, meal = self.new_meal_ops(
                user_id, message_id, day, eaten_at, [item_dict(i) for i in items], models, photos, source
            )
            if self.table.transact(ops):
                return meal_record(meal), self._totals(user_id, day)
        raise RuntimeError(f"could not save the meal of message {message_id}")

    def _latest(self, user_id: int) -> dict | None:
        found = self.table.query(
            user_pk(user_id),
            sk_prefix="MEAL#",
            newest_first=True,
            limit=1,
            filter_expression="attribute_not_exists(deleted_at)",
        )
        return next(iter(found), None)

    def undo_last_meal(self, user_id, now):
        for _ in range(_TRIES):
            meal = self._latest(user_id)
            if meal is None:
                return None
            undo = {
                "Update": {
                    "Key": encode({"PK": meal["PK"], "SK": meal["SK"]}),
                    "UpdateExpression": "SET deleted_at = :now",
                    "ConditionExpression": "attribute_not_exists(deleted_at) AND version = :seen",
                    "ExpressionAttributeValues": values(now=when(now), seen=int(meal.get("version", 0))),
                }
            }
            sums = meal_sums(json.loads(meal["items"]))
            if self.table.transact([undo, day_op(user_id, meal["day"], -1, {k: -v for k, v in sums.items()})]):
                return meal_record(meal)
        raise RuntimeError(f"could not undo the latest meal of user {user_id}: it kept changing")

    def day_totals(self, user_id: int, day: str) -> DayTotals:
        return self._totals(user_id, day)

    def meals(self, user_id: int, include_deleted: bool = False) -> list[MealRecord]:
        rows = [
            r for r in self.table.query(user_pk(user_id), sk_prefix="MEAL#") if include_deleted or "deleted_at" not in r
        ]
        return [meal_record(r) for r in sorted(rows, key=lambda r: int(r["id"]))]

    def last_meal(self, user_id: int) -> MealRecord | None:
        meal = self._latest(user_id)
        return meal_record(meal) if meal else None

    def correct_last_meal(self, user_id, index, replacement, example, now):
        for _ in range(_TRIES):
            meal = self._latest(user_id)
            items = json.loads(meal["items"]) if meal else []
            if meal is None or not 0 <= index < len(items):
                return None
            item = items[index]
            before = ItemRecord(**item)
            photos, models = json.loads(meal.get("photos", "[]")), json.loads(meal.get("models", "{}"))
            photo = None
            if meal.get("source") == "photo" and photos and item["photo_index"] < len(photos):
                photo = photos[item["photo_index"]]
            output = {**item, "models": models.get(str(item["photo_index"]))}
            example_id = self.table.next_id("labelled_example")
            kept = {
                "PK": user_pk(user_id),
                "SK": f"EXAMPLE#{pad(example_id)}",
                "type": "labelled_example",
                "id": example_id,
                "user_id": user_id,
                "meal_id": int(meal["id"]),
                "kind": example["kind"],
                "source": meal.get("source"),
                "photo": dumps(photo),
                "model_output": dumps(output),
                "corrected": dumps(example["corrected"]),
                "created_at": when(now),
            }
            after = [i for j, i in enumerate(items) if j != index]
            if replacement is not None:
                after.insert(index, item_dict(replacement))
            old, new = meal_sums(items), meal_sums(after)
            if after:
                ops = [meal_update_op(meal, after), day_op(user_id, meal["day"], 0, delta(old, new))]
            else:  # nothing left: the meal goes, as with undo
                gone = {k: -v for k, v in old.items()}
                ops = [meal_update_op(meal, after, when(now)), day_op(user_id, meal["day"], -1, gone)]
            if self.table.transact([*ops, {"Put": {"Item": encode(kept)}}]):
                changed = {**meal, "items": dumps(after), **new}
                return meal_record(changed), before, self._totals(user_id, meal["day"])
        raise RuntimeError(f"could not correct the latest meal of user {user_id}: it kept changing")

    def labelled_examples(self, user_id: int | None = None) -> list[dict]:
        rows = (
            self.table.scan("labelled_example")
            if user_id is None
            else self.table.query(user_pk(user_id), sk_prefix="EXAMPLE#")
        )
        out = []
        for r in sorted(rows, key=lambda r: int(r["id"])):
            out.append(
                {
                    "id": int(r["id"]),
                    "user_id": int(r["user_id"]),
                    "meal_id": int(r["meal_id"]),
                    "kind": r["kind"],
                    "source": r.get("source"),
                    "photo": json.loads(r["photo"]) if "photo" in r else None,
                    "model_output": json.loads(r["model_output"]),
                    "corrected": json.loads(r["corrected"]),
                    "created_at": parse_when(r["created_at"]).isoformat(),
                }
            )
        return out
