"""People (users, profiles) and the question pending for each: `PeopleStore` and `PendingQuestionStore` on
DynamoDB. A person is `USER#<id>/USER`; their phone is claimed by `PHONE#<phone>/PHONE` in the same transaction,
so two racing first messages from one number make one person."""

from __future__ import annotations

import json
from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.table import dumps, encode, number, pad, values, when
from bot.storage.records import PROFILE_FIELDS, Clarification, ProfileRecord, UserRecord, utcnow

_JSON_FIELDS = ("allergens", "allergy_notes", "asked")


def user_pk(user_id: int) -> str:
    return f"USER#{user_id}"


def tier_count_op(changes: dict[str, int]) -> dict:
    """ADD each change to the count of people in its tier (one item, `TIERS/COUNT`), for a transaction."""
    names = {f"#t{i}": f"tier:{tier}" for i, tier in enumerate(changes)}
    return {
        "Update": {
            "Key": encode({"PK": "TIERS", "SK": "COUNT"}),
            "UpdateExpression": "ADD " + ", ".join(f"#t{i} :n{i}" for i in range(len(changes))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values(**{f"n{i}": n for i, n in enumerate(changes.values())}),
        }
    }


def _user(item: dict) -> UserRecord:
    return UserRecord(int(item["id"]), item["phone"], item["tier"], item["timezone"], bool(item["opted_out"]))


def _profile(user_id: int, item: dict | None) -> ProfileRecord:
    if item is None:
        return ProfileRecord(user_id)
    values = {k: item.get(k) for k in PROFILE_FIELDS}
    for key in _JSON_FIELDS:
        values[key] = json.loads(item[key]) if key in item else None
    values["allergens"] = tuple(values["allergens"] or ())
    values["allergy_notes"] = tuple(values["allergy_notes"] or ())
    values["asked"] = dict(values["asked"] or {})
    values["allergies_known"] = bool(values["allergies_known"])
    for key in ("age_years", "height_cm", "weight_kg"):
        values[key] = None if values[key] is None else float(values[key])
    return ProfileRecord(user_id, **values)


class DynamoPeople(DynamoBase):
    def user_by_phone(self, phone: str) -> UserRecord | None:
        key = self.table.get(f"PHONE#{phone}", "PHONE")
        if key is None:
            return None
        item = self.table.get(user_pk(int(key["user_id"])), "USER")
        return _user(item) if item else None

    def get_or_create_user(self, phone: str, tier: str, timezone: str) -> UserRecord:
        for _ in range(5):
            key = self.table.get(f"PHONE#{phone}", "PHONE")
            if key is not None:
                item = self.table.get(user_pk(int(key["user_id"])), "USER")
                if item is not None:
                    return _user(item)
                # the phone of a person deleted midway (`delete_user` drops this key last): free it
                self.table.delete(f"PHONE#{phone}", "PHONE", "user_id = :u", u=int(key["user_id"]))
            user_id = self.table.next_id("user")
            user = {
                "PK": user_pk(user_id),
                "SK": "USER",
                "type": "user",
                "id": user_id,
                "phone": phone,
                "tier": tier,
                "timezone": timezone,
                "opted_out": False,
                "created_at": when(utcnow()),
                "GSI3PK": "USERS",  # everyone, by id: the analytics export's pages
                "GSI3SK": pad(user_id),
            }
            phone_key = {"PK": f"PHONE#{phone}", "SK": "PHONE", "type": "phone", "user_id": user_id}
            claimed = self.table.transact(
                [
                    {"Put": {"Item": encode(phone_key), "ConditionExpression": "attribute_not_exists(PK)"}},
                    {"Put": {"Item": encode(user)}},
                    tier_count_op({tier: 1}),
                ]
            )
            if claimed:
                return _user(user)
        raise RuntimeError(f"could not create or find the person with phone {phone!r}")

    def get_user(self, user_id: int) -> UserRecord:
        item = self.table.get(user_pk(user_id), "USER")
        if item is None:
            raise KeyError(f"no user with id {user_id}")
        return _user(item)

    def _set_user(self, user_id: int, **changes) -> None:
        sets = ", ".join(f"#{k} = :{k}" for k in changes)
        names = {f"#{k}": k for k in changes}
        # only an existing person: an update of a deleted one must not bring a bare row back
        self.table.update(user_pk(user_id), "USER", f"SET {sets}", "attribute_exists(PK)", names, **changes)

    def set_opted_out(self, user_id: int, opted_out: bool) -> None:
        self._set_user(user_id, opted_out=opted_out)

    def set_tier(self, user_id: int, tier: str) -> None:
        """The tier, and the count of people per tier in the same transaction (`people_by_tier` reads it)."""
        for _ in range(8):
            item = self.table.get(user_pk(user_id), "USER")
            if item is None or item["tier"] == tier:
                return
            change = {
                "Update": {
                    "Key": encode({"PK": user_pk(user_id), "SK": "USER"}),
                    "UpdateExpression": "SET tier = :tier",
                    "ConditionExpression": "tier = :was",
                    "ExpressionAttributeValues": values(tier=tier, was=item["tier"]),
                }
            }
            if self.table.transact([change, tier_count_op({item["tier"]: -1, tier: 1})]):
                return
        raise RuntimeError(f"could not set the tier of user {user_id}: it kept changing")

    def get_profile(self, user_id: int) -> ProfileRecord:
        return _profile(user_id, self.table.get(user_pk(user_id), "PROFILE"))

    def update_profile(self, user_id: int, now: datetime, **values) -> ProfileRecord:
        unknown = set(values) - set(PROFILE_FIELDS)
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        sets, removes, named, names = ["#type = :type", "updated_at = :updated_at"], [], {}, {"#type": "type"}
        named["type"], named["updated_at"] = "profile", when(now)
        for key, value in values.items():
            names[f"#{key}"] = key
            if key in _JSON_FIELDS:
                value = dumps(list(value) if key != "asked" else dict(value))
            elif isinstance(value, float):
                value = number(value)
            if value is None:
                removes.append(f"#{key}")
            else:
                sets.append(f"#{key} = :{key}")
                named[key] = value
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        item = self.table.update(user_pk(user_id), "PROFILE", expression, None, names, **named)
        return _profile(user_id, item)


class DynamoPendingQuestions(DynamoBase):
    def set_clarification(self, user_id: int, kind: str, payload: dict, now: datetime) -> None:
        item = {"PK": user_pk(user_id), "SK": "CLARIFY", "type": "clarification", "kind": kind}
        self.table.put({**item, "payload": dumps(payload), "created_at": when(now)})

    def get_clarification(self, user_id: int) -> Clarification | None:
        item = self.table.get(user_pk(user_id), "CLARIFY")
        return Clarification(item["kind"], json.loads(item["payload"])) if item else None

    def clear_clarification(self, user_id: int) -> None:
        self.table.delete(user_pk(user_id), "CLARIFY")
