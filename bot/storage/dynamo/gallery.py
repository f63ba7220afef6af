"""Questions about unknown foods, the labelled crops their answers become, and who sent which stored photo:
`PhotoQuestionStore`, `LabelledCropStore` and `StoredPhotoStore` on DynamoDB.

In the person's partition: `PQ#<id>` (a question; `PQID#<id>/PQID` points at it by id), `CROP#<id>`,
`PHOTO#<sha256>`; GSI4 `CROPS#EMBEDDED` lists everyone's crops with features (the gallery's matching);
`SHA#<sha256>/USER#<id>` says who sent a photo, so a delete knows which bytes nobody else has.
Answering is one TransactWriteItems: the question's delete (its condition: whoever answers first wins), the crop,
the meal's change (or its creation with its message key) and the day's totals, and the next question asked.
"""

from __future__ import annotations

import json
from datetime import datetime

from bot.storage.dynamo.meals import DynamoMeals, day_op, item_dict, meal_record, meal_sums, meal_update_op
from bot.storage.dynamo.people import user_pk
from bot.storage.dynamo.table import dumps, encode, pad, parse_when, values, when
from bot.storage.records import AnsweredQuestion, LabelledCrop, PhotoQuestion

_TRIES = 8


def _question(item: dict) -> PhotoQuestion:
    return PhotoQuestion(
        int(item["id"]),
        int(item["user_id"]),
        int(item["message_id"]),
        item["message_sid"],
        item["day"],
        parse_when(item["eaten_at"]),
        int(item["photo_index"]),
        dict(json.loads(item.get("photo", "{}")) or {}),
        dict(json.loads(item.get("item", "{}")) or {}),
        tuple(json.loads(item.get("choices", "[]"))),
        parse_when(item.get("asked_at")),
        parse_when(item["created_at"]),
    )


def _crop(item: dict) -> LabelledCrop:
    return LabelledCrop(
        int(item["id"]),
        int(item["user_id"]),
        item["message_sid"],
        item.get("photo_sha256"),
        json.loads(item.get("box", "null")),
        json.loads(item.get("image", "null")),
        item["label"],
        item.get("ndb"),
        item["display_name"],
        item["answer"],
        item["how"],
        json.loads(item["model_output"]),
        item.get("embedding"),
        parse_when(item["created_at"]),
    )


class DynamoGallery(DynamoMeals):
    # questions about unknown foods
    def _questions(self, user_id: int) -> list[dict]:
        return list(self.table.query(user_pk(user_id), sk_prefix="PQ#"))

    def _drop(self, questions: list[dict]) -> None:
        keys = [(q["PK"], q["SK"]) for q in questions] + [(f"PQID#{int(q['id'])}", "PQID") for q in questions]
        self.table.delete_all(keys)

    def set_photo_questions(self, user_id, message_id, message_sid, day, eaten_at, meal, questions, now):
        # not one transaction (a photo may hold many unknown foods): a handler that dies midway leaves its message
        # pending, and its retry replaces the questions again
        self._drop(self._questions(user_id))
        self.table.delete(user_pk(user_id), "CLARIFY")
        first = None
        for i, q in enumerate(questions):
            question_id = self.table.next_id("photo_question")
            item = {
                "PK": user_pk(user_id),
                "SK": f"PQ#{pad(question_id)}",
                "type": "photo_question",
                "id": question_id,
                "user_id": user_id,
                "message_id": message_id,
                "message_sid": message_sid,
                "day": day,
                "eaten_at": when(eaten_at),
                "photo_index": q["photo_index"],
                "photo": dumps(q["photo"]),
                "item": dumps(q["item"]),
                "choices": dumps(list(q["choices"])),
                "meal": dumps(meal),
                "asked_at": when(now) if i == 0 else None,
                "created_at": when(now),
            }
            pointer = {"PK": f"PQID#{question_id}", "SK": "PQID", "type": "question_key", "question_sk": item["SK"]}
            self.table.transact(
                [{"Put": {"Item": encode(pointer | {"user_id": user_id})}}, {"Put": {"Item": encode(item)}}]
            )
            first = first or item
        return _question(first) if first else None

    def photo_question(self, user_id: int) -> PhotoQuestion | None:
        asked = next((q for q in self._questions(user_id) if "asked_at" in q), None)
        return _question(asked) if asked else None

    def _question_item(self, question_id: int) -> dict | None:
        pointer = self.table.get(f"PQID#{question_id}", "PQID")
        return self.table.get(user_pk(int(pointer["user_id"])), pointer["question_sk"]) if pointer else None

    def set_question_choices(self, question_id: int, choices: list[dict]) -> None:
        question = self._question_item(question_id)
        if question is not None:
            self.table.update(
                question["PK"], question["SK"], "SET choices = :c", "attribute_exists(PK)", c=dumps(list(choices))
            )

    def answer_photo_question(self, question_id, crop, item, now):
        for _ in range(_TRIES):
            question = self._question_item(question_id)
            if question is None:
                return None
            user_id = int(question["user_id"])
            q_item = json.loads(question["item"])
            photo = json.loads(question["photo"])
            crop_id = self.table.next_id("labelled_crop")
            kept = {
                "PK": user_pk(user_id),
                "SK": f"CROP#{pad(crop_id)}",
                "type": "labelled_crop",
                "id": crop_id,
                "user_id": user_id,
                "message_sid": question["message_sid"],
                "photo_sha256": (photo or {}).get("sha256"),
                "photo": dumps(photo),
                "box": dumps(q_item.get("box")),
                "image": dumps(q_item.get("image")),
                "label": crop["label"],
                "ndb": crop.get("ndb"),
                "display_name": crop["display_name"],
                "answer": crop["answer"],
                "how": crop["how"],
                "model_output": dumps({k: v for k, v in q_item.items() if k != "embedding"}),
                "embedding": crop.get("embedding"),
                "created_at": when(now),
                # everyone's crops, for the gallery's matching: a Query, never a Scan, on a photo's path
                "GSI4PK": "CROPS#" + ("EMBEDDED" if crop.get("embedding") is not None else "PLAIN"),
                "GSI4SK": pad(crop_id),
            }
            ops = [
                {
                    "Delete": {
                        "Key": encode({"PK": question["PK"], "SK": question["SK"]}),
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
                {"Delete": {"Key": encode({"PK": f"PQID#{question_id}", "SK": "PQID"})}},
                {"Put": {"Item": encode(kept)}},
            ]
            meal_after = None
            if item is not None:
                meal = self.meal_of_message(user_id, int(question["message_id"]))
                if meal is None:  # the photo logged no meal: this answer starts it
                    started = json.loads(question.get("meal", "{}")) or {}
                    new_ops, meal_after = self.new_meal_ops(
                        user_id,
                        int(question["message_id"]),
                        question["day"],
                        parse_when(question["eaten_at"]),
                        [item_dict(item)],
                        started.get("models") or {},
                        started.get("photos") or [],
                        "photo",
                    )
                    ops += new_ops
                elif "deleted_at" not in meal:  # an undone meal gets nothing
                    items = [*json.loads(meal["items"]), item_dict(item)]
                    added = {k: float(getattr(item, k)) for k in ("kcal", "protein_g", "fat_g", "carbs_g")}
                    ops += [meal_update_op(meal, items), day_op(user_id, meal["day"], 0, added)]
                    meal_after = {**meal, "items": dumps(items), **meal_sums(items)}
            following = next((q for q in self._questions(user_id) if q["SK"] != question["SK"]), None)
            if following is not None:
                ops.append(
                    {
                        "Update": {
                            "Key": encode({"PK": following["PK"], "SK": following["SK"]}),
                            "UpdateExpression": "SET asked_at = :now",
                            "ConditionExpression": "attribute_exists(PK)",
                            "ExpressionAttributeValues": values(now=when(now)),
                        }
                    }
                )
            refused = self.table.refused(ops)
            if refused == 0:
                return None  # answered (or dropped) meanwhile
            if refused is not None:
                continue  # the meal or the next question changed meanwhile: again, on what is there now
            totals = self._totals(user_id, meal_after["day"]) if meal_after is not None else None
            nxt = _question({**following, "asked_at": when(now)}) if following is not None else None
            return AnsweredQuestion(meal_record(meal_after) if meal_after is not None else None, totals, nxt)
        raise RuntimeError(f"could not answer photo question {question_id}: its meal kept changing")

    def clear_photo_questions(self, user_id: int) -> int:
        questions = self._questions(user_id)
        self._drop(questions)
        return len(questions)

    # labelled crops
    def labelled_crops(self, user_id: int | None = None, with_embedding: bool = False) -> list[LabelledCrop]:
        if user_id is not None:
            rows = list(self.table.query(user_pk(user_id), "CROP#"))
        else:
            kinds = ("EMBEDDED",) if with_embedding else ("EMBEDDED", "PLAIN")
            rows = [r for kind in kinds for r in self.table.query(f"CROPS#{kind}", index="GSI4")]
        crops = [_crop(r) for r in rows if not with_embedding or r.get("embedding") is not None]
        return sorted(crops, key=lambda c: c.id)

    # stored photos
    def add_stored_photos(self, user_id: int, photos: list[dict], now: datetime) -> None:
        for photo in photos:
            sha = photo["sha256"]
            item = {
                "PK": user_pk(user_id),
                "SK": f"PHOTO#{sha}",
                "type": "stored_photo",
                "sha256": sha,
                "user_id": user_id,
                "content_type": photo["content_type"],
                "bytes": photo["bytes"],
                "created_at": when(now),
            }
            owner = {"PK": f"SHA#{sha}", "SK": user_pk(user_id), "type": "photo_owner", "user_id": user_id}
            if self.table.get(item["PK"], item["SK"]) is None:  # idempotent: the first note stays
                self.table.transact([{"Put": {"Item": encode(item)}}, {"Put": {"Item": encode(owner)}}])

    def stored_photos(self, user_id: int | None = None) -> list[str]:
        rows = self.table.scan("stored_photo") if user_id is None else self.table.query(user_pk(user_id), "PHOTO#")
        return sorted({r["sha256"] for r in rows})
