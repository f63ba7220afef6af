"""Export and hard delete of everything about one person, and the queue of their media to delete at Twilio:
`PrivacyStore` on DynamoDB.

A person's items are found in three places: their partition `USER#<id>` (with their scheduled jobs and calendar
settings), GSI1 `USER#<id>` (messages, replies, events, short links), and the partitions of their messages
`MSG#<sid>` (outbox keys, events without a user id). Pointers elsewhere (`PHONE#`, `PQID#`, `PLAN#`, `SHA#`,
`JOBKEY#`, `JOB#`, `FEED#`) are named by those items. A delete is many BatchWriteItem calls, not one transaction
(a person can hold more than 100 items): it first queues what must be deleted elsewhere (Twilio media, the Stripe
subscription), deletes the person's item next to last and their phone key last, so a delete that dies midway is
finished by calling it again, and a half-deleted person is never found by their phone (`get_or_create_user`
drops a phone key whose person is gone).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.messages import message_pk
from bot.storage.dynamo.people import tier_count_op, user_pk
from bot.storage.dynamo.table import encode, parse_when, when
from bot.storage.records import DeletedUser, utcnow

JSON_ATTRIBUTES = frozenset(
    {
        "media",
        "models",
        "photos",
        "items",
        "detail",
        "payload",
        "allergens",
        "allergy_notes",
        "asked",
        "photo",
        "model_output",
        "corrected",
        "item",
        "choices",
        "meal",
        "values",
        "plan",
        "request",
        "have",
        "shown",
        "box",
        "image",
        "photo_portions",
    }
)
_INTERNAL = frozenset({"PK", "SK", "type", "version", "expires_at", "meal_sk"})
# what `export_user` calls each kind of item, as the SQL store does
_SECTIONS = {
    "profile": "profile",
    "message": "messages",
    "meal": "meals",
    "daily_total": "daily_totals",
    "usage": "usage",
    "outbound": "replies_sent",
    "labelled_example": "corrections",
    "clarification": "pending_question",
    "photo_question": "photo_questions",
    "labelled_crop": "labelled_crops",
    "stored_photo": "stored_photos",
    "meal_preferences": "meal_preferences",
    "meal_plan": "meal_plans",
    "plan_rating": "plan_ratings",
    "short_link": "short_links",
    "personal_preferences": "personal_preferences",
    "subscription": "subscription",
    "scheduled_job": "scheduled_messages",
    "calendar_person": "calendar",
    "event": "events",
}
# secrets, not the person's data: the feed token's hash and the Google refresh token (as SQL's export leaves out)
_SECRETS = {"calendar_person": ("feed_token_sha256", "google_refresh_token")}


def _ready(item: dict) -> dict:
    out = {}
    for key, value in item.items():
        if key in _INTERNAL or key.startswith("GSI"):
            continue
        if key in JSON_ATTRIBUTES and isinstance(value, str):
            value = json.loads(value)
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        out[key] = value
    return out


class DynamoPrivacy(DynamoBase):
    def _items_of(self, user_id: int) -> list[dict]:
        """Every item about the person (their outbox rows found through their messages' keys too)."""
        found = {(i["PK"], i["SK"]): i for i in self.table.query(user_pk(user_id))}
        found.update({(i["PK"], i["SK"]): i for i in self.table.query(f"USER#{user_id}", index="GSI1")})
        sids = [i["sid"] for i in found.values() if i.get("type") == "message"]
        for sid in sids:
            for item in self.table.query(message_pk(sid)):
                found[(item["PK"], item["SK"])] = item
                if item.get("type") == "outbound_key":
                    row = self.table.get(f"OUTBOX#{int(item['outbound_id'])}", "OUT")
                    if row is not None:
                        found[(row["PK"], row["SK"])] = row
        return list(found.values())

    def export_user(self, user_id: int) -> dict:
        items = self._items_of(user_id)
        export = {"user": None, **{section: [] for section in _SECTIONS.values()}}
        for item in sorted(items, key=lambda i: (i.get("type", ""), i.get("id", 0), i["SK"])):
            kind = item.get("type")
            if kind == "user":
                export["user"] = _ready(item)
            elif kind in _SECTIONS:
                ready = _ready(item)
                for secret in _SECRETS.get(kind, ()):
                    ready.pop(secret, None)
                export[_SECTIONS[kind]].append(ready)
        return export

    def delete_user(self, user_id: int) -> DeletedUser:
        items = self._items_of(user_id)
        now = utcnow()
        media_messages = sorted(
            (i for i in items if i.get("type") == "message" and json.loads(i.get("media", "[]"))),
            key=lambda i: int(i["id"]),
        )
        for message in media_messages:  # Twilio's copies: deleted there by the worker, whatever happens to us
            self.table.put(
                {
                    "PK": f"MEDIADEL#{message['sid']}",
                    "SK": "MEDIADEL",
                    "type": "media_deletion",
                    "message_sid": message["sid"],
                    "created_at": when(now),
                    "next_attempt_at": when(now),
                    "attempts": 0,
                    "GSI2PK": "DUE#MEDIADEL",
                    "GSI2SK": when(now),
                },
                "attribute_not_exists(PK)",
            )
        self._cancel_at_stripe(items, now)
        sent = sorted({i["sha256"] for i in items if i.get("type") == "stored_photo"})
        keys = []
        for item in items:
            kind = item.get("type")
            if kind == "user":
                phone_key = (f"PHONE#{item['phone']}", "PHONE")
                continue
            keys.append((item["PK"], item["SK"]))
            if kind == "photo_question":
                keys.append((f"PQID#{int(item['id'])}", "PQID"))
            elif kind == "meal_plan":
                keys.append((f"PLAN#{int(item['id'])}", "PLAN"))
            elif kind == "outbound":  # its (message, kind) claim, also for replies of no message (billing notices)
                keys.append((message_pk(item["message_sid"]), f"OUT#{item['kind']}"))
            elif kind == "stored_photo":
                keys.append((f"SHA#{item['sha256']}", user_pk(user_id)))
            elif kind == "scheduled_job":  # its key's claim and its pointer by id, before it (a rerun finds them by it)
                keys[-1:] = [(f"JOBKEY#{item['key']}", "JOBKEY"), (f"JOB#{int(item['id'])}", "JOB"), keys[-1]]
            elif kind == "calendar_person" and item.get("feed_token_sha256"):  # the feed link stops at once
                keys[-1:] = [(f"FEED#{item['feed_token_sha256']}", "FEED"), keys[-1]]
        self.table.delete_all(keys)
        person = next((i for i in items if i.get("type") == "user"), None)
        if person is not None:  # the person, and their count in their tier, together
            gone = {
                "Delete": {
                    "Key": encode({"PK": person["PK"], "SK": "USER"}),
                    "ConditionExpression": "attribute_exists(PK)",
                }
            }
            self.table.transact([gone, tier_count_op({person["tier"]: -1})])
            self.table.delete(*phone_key, "user_id = :u", u=user_id)
        orphans = [sha for sha in sent if next(iter(self.table.query(f"SHA#{sha}", limit=1)), None) is None]
        return DeletedUser(orphans, [m["sid"] for m in media_messages])

    def _cancel_at_stripe(self, items: list[dict], now: datetime) -> None:
        """A live Stripe subscription of a deleted person is queued for cancellation at Stripe (the billing worker
        does it): only its id stays with us until then."""
        for sub in (i for i in items if i.get("type") == "subscription"):
            subscription_id = sub.get("stripe_subscription_id")
            if subscription_id and sub.get("status") not in ("canceled", "incomplete_expired"):
                self.table.put(
                    {
                        "PK": f"STRIPECANCEL#{subscription_id}",
                        "SK": "STRIPECANCEL",
                        "type": "stripe_cancellation",
                        "stripe_subscription_id": subscription_id,
                        "created_at": when(now),
                        "next_attempt_at": when(now),
                        "attempts": 0,
                        "GSI2PK": "DUE#STRIPECANCEL",
                        "GSI2SK": when(now),
                    },
                    "attribute_not_exists(PK)",
                )

    # queues of work elsewhere (Twilio media here, Stripe cancellations in billing): one item each on GSI2
    def _claim(self, kind: str, now: datetime, lease_until: datetime, limit: int) -> list[dict]:
        claimed = []
        for item in self.table.query(f"DUE#{kind}", index="GSI2", until=when(now)):
            updated = self.table.update(
                item["PK"],
                item["SK"],
                "SET next_attempt_at = :lease, GSI2SK = :lease ADD attempts :one",
                "next_attempt_at = :seen",
                lease=when(lease_until),
                one=1,
                seen=item["next_attempt_at"],
            )
            if updated is not None:
                claimed.append(updated)
                if len(claimed) >= limit:
                    break
        return claimed

    def _failed(self, pk: str, sk: str, error: str, next_attempt_at: datetime) -> None:
        at = when(next_attempt_at)
        expression = "SET last_error = :error, next_attempt_at = :next, GSI2SK = :next"
        self.table.update(pk, sk, expression, "attribute_exists(PK)", error=error, next=at)

    def claim_media_deletions(self, now: datetime, lease_until: datetime, limit: int) -> list[tuple[str, int]]:
        return [(i["message_sid"], int(i["attempts"])) for i in self._claim("MEDIADEL", now, lease_until, limit)]

    def media_deleted(self, message_sid: str) -> None:
        self.table.delete(f"MEDIADEL#{message_sid}", "MEDIADEL")

    def media_deletion_failed(self, message_sid: str, error: str, next_attempt_at: datetime) -> None:
        self._failed(f"MEDIADEL#{message_sid}", "MEDIADEL", error, next_attempt_at)

    def media_deletions(self) -> list[dict]:
        rows = sorted(self.table.query("DUE#MEDIADEL", index="GSI2"), key=lambda r: r["created_at"])
        return [
            {
                "message_sid": r["message_sid"],
                "created_at": parse_when(r["created_at"]),
                "attempts": int(r["attempts"]),
                "last_error": r.get("last_error"),
            }
            for r in rows
        ]
