"""What the bot learned about each person: `PersonalStore` on DynamoDB, one item `USER#<id>/PERSONAL`."""

from __future__ import annotations

import json
from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.people import user_pk
from bot.storage.dynamo.table import dumps, parse_when, when


class DynamoPersonal(DynamoBase):
    def _item(self, user_id: int) -> dict | None:
        return self.table.get(user_pk(user_id), "PERSONAL")

    def _set(self, user_id: int, now: datetime, name: str, value) -> None:
        names = {"#type": "type", "#v": name}
        start = "SET #type = :type, created_at = if_not_exists(created_at, :now), updated_at = :now"
        if value is None:
            expression = f"{start} REMOVE #v"
            named = {}
        else:
            expression = f"{start}, #v = :v"
            named = {"v": dumps(value)}
        self.table.update(
            user_pk(user_id), "PERSONAL", expression, None, names, type="personal_preferences", now=when(now), **named
        )

    def personal_preferences(self, user_id: int) -> dict:
        item = self._item(user_id)
        return dict(json.loads(item["values"])) if item and "values" in item else {}

    def set_personal_preferences(self, user_id: int, values: dict, now: datetime) -> None:
        self._set(user_id, now, "values", dict(values))

    def photo_portions(self, user_id: int) -> dict | None:
        item = self._item(user_id)
        portions = json.loads(item["photo_portions"]) if item and "photo_portions" in item else None
        return dict(portions) if portions else None

    def set_photo_portions(self, user_id: int, portions: dict | None, now: datetime) -> None:
        self._set(user_id, now, "photo_portions", dict(portions) if portions else None)

    def personal_since(self, user_id: int) -> datetime | None:
        item = self._item(user_id)
        return parse_when(item["created_at"]) if item else None
