"""Meal-plan preferences, plans, ratings and grocery short links: `PlanStore` on DynamoDB.

In the person's partition: `MEALPREFS`, `PLAN#<week_start>` (one plan a week: a new one replaces it in place),
`RATING#<id>`. `PLAN#<id>/PLAN` points at a plan by id. A short link is `LINK#<id>/LINK` (the redirect reads it
by id), found for a person on GSI1 `USER#<id>`/`LINK#<created>`. Every plan is on GSI4 `PLANS`/<updated_at>: the
plans made or changed since a time (`plans_changed_since`, bot.calendar's scheduler).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.people import user_pk
from bot.storage.dynamo.table import dumps, encode, pad, parse_when, when
from bot.storage.records import PlanRating, PlanRecord, ShortLink

_PLAN_UPDATES = frozenset({"plan", "request", "have", "shown"})
CHANGED = "PLANS"  # GSI4: every plan by the time it was made or last changed (the reminder scheduler's poll)


def _plan(item: dict) -> PlanRecord:
    shown = json.loads(item.get("shown", "null"))
    return PlanRecord(
        int(item["id"]),
        int(item["user_id"]),
        item["week_start"],
        item["start_day"],
        dict(json.loads(item["plan"])),
        dict(json.loads(item["request"])),
        tuple(json.loads(item.get("have", "[]"))),
        dict(shown) if shown else None,
        parse_when(item["created_at"]),
        parse_when(item["updated_at"]),
    )


def _link(item: dict) -> ShortLink:
    return ShortLink(
        item["id"],
        int(item["user_id"]),
        int(item["plan_id"]),
        item["provider"],
        item["target"],
        item["basis"],
        parse_when(item["created_at"]),
    )


class DynamoPlans(DynamoBase):
    def meal_preferences(self, user_id: int) -> dict:
        item = self.table.get(user_pk(user_id), "MEALPREFS")
        return dict(json.loads(item["values"])) if item else {}

    def set_meal_preferences(self, user_id: int, values: dict, now: datetime) -> dict:
        item = {"PK": user_pk(user_id), "SK": "MEALPREFS", "type": "meal_preferences", "user_id": user_id}
        self.table.put({**item, "values": dumps(dict(values)), "updated_at": when(now)})
        return dict(values)

    def save_plan(self, user_id, week_start, start_day, plan, request, now) -> PlanRecord:
        pk, sk = user_pk(user_id), f"PLAN#{week_start}"
        for _ in range(5):
            # a new plan for the week starts afresh: nothing had, nothing looked at yet
            replaced = self.table.update(
                pk,
                sk,
                "SET start_day = :start, #plan = :plan, #request = :request, #have = :have, updated_at = :now, "
                "GSI4PK = :changed, GSI4SK = :now REMOVE shown",
                "attribute_exists(PK)",
                {"#plan": "plan", "#request": "request", "#have": "have"},
                start=start_day,
                plan=dumps(plan),
                request=dumps(request),
                have="[]",
                now=when(now),
                changed=CHANGED,
            )
            if replaced is not None:
                return _plan(replaced)
            plan_id = self.table.next_id("meal_plan")
            item = {
                "PK": pk,
                "SK": sk,
                "type": "meal_plan",
                "id": plan_id,
                "user_id": user_id,
                "week_start": week_start,
                "start_day": start_day,
                "plan": dumps(plan),
                "request": dumps(request),
                "have": "[]",
                "created_at": when(now),
                "updated_at": when(now),
                "GSI4PK": CHANGED,
                "GSI4SK": when(now),
            }
            pointer = {"PK": f"PLAN#{plan_id}", "SK": "PLAN", "type": "plan_key", "user_pk": pk, "plan_sk": sk}
            if self.table.transact(
                [
                    {"Put": {"Item": encode(item), "ConditionExpression": "attribute_not_exists(PK)"}},
                    {"Put": {"Item": encode(pointer)}},
                ]
            ):
                return _plan(item)
        raise RuntimeError(f"could not save the plan of user {user_id} for {week_start}")

    def update_plan(self, plan_id: int, now: datetime, **values) -> PlanRecord:
        unknown = set(values) - _PLAN_UPDATES
        if unknown:
            raise ValueError(f"not plan fields: {sorted(unknown)}; expected some of {sorted(_PLAN_UPDATES)}")
        pointer = self.table.get(f"PLAN#{plan_id}", "PLAN")
        if pointer is None:
            raise KeyError(f"no meal plan with id {plan_id}")
        sets, removes, names = ["updated_at = :now", "GSI4PK = :changed", "GSI4SK = :now"], [], {}
        named = {"now": when(now), "changed": CHANGED}
        for key, value in values.items():
            names[f"#{key}"] = key
            if key == "have":
                value = list(value)
            if value is None:
                removes.append(f"#{key}")
            else:
                sets.append(f"#{key} = :{key}")
                named[key] = dumps(value)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        item = self.table.update(
            pointer["user_pk"], pointer["plan_sk"], expression, "attribute_exists(PK)", names, **named
        )
        if item is None:
            raise KeyError(f"no meal plan with id {plan_id}")
        return _plan(item)

    def latest_plan(self, user_id: int) -> PlanRecord | None:
        plans = list(self.table.query(user_pk(user_id), sk_prefix="PLAN#"))
        if not plans:
            return None
        return _plan(max(plans, key=lambda p: (p["start_day"], int(p["id"]))))

    def add_plan_rating(self, user_id, plan_id, day_index, slot, recipe_id, rating, now) -> None:
        if not 1 <= rating <= 5:
            raise ValueError(f"a rating is 1 to 5, not {rating}")
        rating_id = self.table.next_id("plan_rating")
        self.table.put(
            {
                "PK": user_pk(user_id),
                "SK": f"RATING#{pad(rating_id)}",
                "type": "plan_rating",
                "id": rating_id,
                "user_id": user_id,
                "plan_id": plan_id,
                "day_index": day_index,
                "slot": slot,
                "recipe_id": recipe_id,
                "rating": rating,
                "created_at": when(now),
            }
        )

    def plan_ratings(self, user_id: int) -> list[PlanRating]:
        return [
            PlanRating(
                int(r["id"]),
                int(r["user_id"]),
                int(r["plan_id"]),
                int(r["day_index"]),
                r["slot"],
                r["recipe_id"],
                int(r["rating"]),
                parse_when(r["created_at"]),
            )
            for r in self.table.query(user_pk(user_id), sk_prefix="RATING#")
        ]

    def short_link(self, user_id: int, plan_id: int, provider: str, basis: str) -> ShortLink | None:
        for item in self.table.query(f"USER#{user_id}", sk_prefix="LINK#", index="GSI1", newest_first=True):
            if int(item["plan_id"]) == plan_id and item["provider"] == provider and item["basis"] == basis:
                return _link(item)
        return None

    def add_short_link(self, user_id, plan_id, provider, target, basis, now) -> ShortLink:
        while True:
            link_id = secrets.token_urlsafe(16)  # 128 random bits: unguessable, and names no one
            item = {
                "PK": f"LINK#{link_id}",
                "SK": "LINK",
                "type": "short_link",
                "id": link_id,
                "user_id": user_id,
                "plan_id": plan_id,
                "provider": provider,
                "target": target,
                "basis": basis,
                "created_at": when(now),
                "GSI1PK": f"USER#{user_id}",
                "GSI1SK": f"LINK#{when(now)}#{link_id}",
            }
            if self.table.put(item, "attribute_not_exists(PK)"):
                return _link(item)

    def get_short_link(self, link_id: str) -> ShortLink | None:
        item = self.table.get(f"LINK#{link_id}", "LINK")
        return _link(item) if item else None
