"""The bot's repository interface and the plain records it returns.

Everything the bot persists goes through `BotStore`, so a DynamoDB adapter can replace the SQLAlchemy
one (`bot.sql_store.SqlStore`) without touching the service. Every method is one atomic operation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Protocol, TypeVar

import anyio.to_thread

T = TypeVar("T")


@dataclass(frozen=True)
class UserRecord:
    id: int
    phone: str
    tier: str
    timezone: str
    opted_out: bool


@dataclass(frozen=True)
class MediaRef:
    url: str
    content_type: str


@dataclass(frozen=True)
class MessageRecord:
    id: int
    sid: str
    user_id: int
    from_addr: str
    to_addr: str
    body: str
    media: tuple[MediaRef, ...]
    photos_reserved: int
    status: str
    attempts: int
    twiml_reply: str | None
    created_at: datetime


@dataclass(frozen=True)
class ItemRecord:
    photo_index: int
    name: str
    display_name: str
    grams: float
    grams_low: float
    grams_high: float
    kcal: float
    protein_g: float
    fat_g: float
    carbs_g: float
    confidence: float


@dataclass(frozen=True)
class MealRecord:
    id: int
    user_id: int
    day: str
    items: tuple[ItemRecord, ...]
    kcal: float
    protein_g: float
    fat_g: float
    carbs_g: float
    grams: float


@dataclass(frozen=True)
class DayTotals:
    day: str
    meals: int = 0
    kcal: float = 0.0
    protein_g: float = 0.0
    fat_g: float = 0.0
    carbs_g: float = 0.0


@dataclass(frozen=True)
class Bucket:
    """One usage counter row: a user's `period` ('hour', 'day', 'month') named by `key`, with a limit."""

    period: str
    key: str
    limit: int | None = None


@dataclass(frozen=True)
class OutboundRecord:
    id: int
    message_sid: str
    kind: str
    to_addr: str
    from_addr: str
    body: str
    attempts: int


@dataclass(frozen=True)
class EventRecord:
    at: datetime
    kind: str
    message_sid: str | None
    user_id: int | None
    meal_id: int | None
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProfileRecord:
    """What the coach knows about a person; every fact optional (defaults until they tell us)."""

    user_id: int
    goal: str | None = None
    allergens: tuple[str, ...] = ()
    allergy_notes: tuple[str, ...] = ()
    allergies_known: bool = False
    sex: str | None = None
    age_years: float | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    activity: str | None = None
    asking: str | None = None
    asked: dict = field(default_factory=dict)


PROFILE_FIELDS = ("goal", "allergens", "allergy_notes", "allergies_known", "sex", "age_years", "height_cm",
                  "weight_kg", "activity", "asking", "asked")  # fmt: skip


@dataclass(frozen=True)
class Clarification:
    kind: str
    payload: dict


def utcnow() -> datetime:
    """Naive UTC: what every stored time is."""
    return datetime.now(UTC).replace(tzinfo=None)


async def off_loop(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run a blocking store (or Twilio client) call in a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))


# Message statuses. `pending` is the only one the retry worker picks up (its lease makes that safe).
PENDING, DONE, REJECTED, FAILED, IGNORED = "pending", "done", "rejected", "failed", "ignored"


class BotStore(Protocol):
    def create_schema(self) -> None: ...

    def ping(self) -> None:
        """Raise if the database cannot be reached."""

    # users
    def get_or_create_user(self, phone: str, tier: str, timezone: str) -> UserRecord: ...
    def get_user(self, user_id: int) -> UserRecord: ...
    def set_opted_out(self, user_id: int, opted_out: bool) -> None: ...
    def set_tier(self, user_id: int, tier: str) -> None: ...

    # inbound messages
    def record_inbound(
        self, sid: str, user_id: int, from_addr: str, to_addr: str, body: str, media: list[MediaRef],
        status: str, now: datetime, lease_until: datetime | None,
    ) -> tuple[MessageRecord, bool]:
        """Insert the message; `(existing, False)` when its sid was seen before."""  # fmt: skip

    def get_message(self, sid: str) -> MessageRecord | None: ...
    def set_photos_reserved(self, sid: str, photos: int) -> None: ...
    def set_twiml_reply(self, sid: str, twiml_reply: str) -> None: ...
    def finish_message(self, sid: str, status: str, twiml_reply: str | None, now: datetime) -> None:
        """Set the final status (or keep `pending`), release the lease, store the TwiML answered."""

    def schedule_retry(self, sid: str, error: str, next_attempt_at: datetime, now: datetime) -> None: ...
    def claim_due_messages(self, now: datetime, lease_until: datetime, limit: int) -> list[MessageRecord]:
        """Lease `pending` messages whose retry time has come and whose lease (if any) has expired."""

    def count_messages(self, status: str) -> int: ...

    # meals and totals
    def save_meal(
        self, message_id: int, user_id: int, day: str, eaten_at: datetime, items: list[ItemRecord],
        models: dict, photos: list[dict], source: str = "photo",
    ) -> tuple[MealRecord, DayTotals]:
        """Insert the meal and add it to the day's totals; for a message already logged return its meal."""  # fmt: skip

    def undo_last_meal(self, user_id: int, now: datetime) -> MealRecord | None:
        """Remove the user's latest meal from the log and from its day's totals."""

    def day_totals(self, user_id: int, day: str) -> DayTotals: ...
    def meals(self, user_id: int, include_deleted: bool = False) -> list[MealRecord]: ...

    def last_meal(self, user_id: int) -> MealRecord | None:
        """The user's latest meal still in the log."""

    def correct_last_meal(
        self, user_id: int, index: int, replacement: ItemRecord | None, example: dict, now: datetime
    ) -> tuple[MealRecord, ItemRecord, DayTotals] | None:
        """Replace (or with None remove) item `index` of the latest meal, fix the meal and day totals, and
        store a labelled example (`example`: kind, corrected) with the photo and model output; atomic.
        Returns (meal after, item before, day totals); None when there is no meal."""

    def labelled_examples(self, user_id: int | None = None) -> list[dict]: ...

    # coach: profile, pending questions, privacy
    def get_profile(self, user_id: int) -> ProfileRecord: ...
    def update_profile(self, user_id: int, now: datetime, **values) -> ProfileRecord: ...
    def set_clarification(self, user_id: int, kind: str, payload: dict, now: datetime) -> None: ...
    def get_clarification(self, user_id: int) -> Clarification | None: ...
    def clear_clarification(self, user_id: int) -> None: ...
    def export_user(self, user_id: int) -> dict:
        """Everything stored about the user, as JSON-ready data."""

    def delete_user(self, user_id: int) -> None:
        """Hard delete of the user and every row about them."""

    # usage ledger
    def consume(self, user_id: int, buckets: list[Bucket], counter: str, amount: int) -> Bucket | None:
        """Add `amount` to `counter` in every bucket, all or nothing; return the first bucket whose limit
        would be passed (nothing is then added) or None."""

    def add_usage(self, user_id: int, buckets: list[Bucket], amounts: dict[str, int]) -> None: ...
    def usage(self, user_id: int, period: str, key: str) -> dict[str, int]: ...

    # REST replies
    def enqueue_outbound(
        self, sid: str, kind: str, to_addr: str, from_addr: str, body: str, now: datetime, lease_until: datetime
    ) -> OutboundRecord | None:
        """Queue a reply, leased to the caller; None when this (sid, kind) was queued before."""

    def claim_due_outbound(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboundRecord]: ...
    def mark_outbound(
        self, outbound_id: int, status: str, now: datetime, twilio_sid: str | None = None,
        error: str | None = None, next_attempt_at: datetime | None = None,
    ) -> None: ...  # fmt: skip
    def outbound(self, sid: str | None = None) -> list[dict]: ...

    # events
    def add_event(
        self, kind: str, now: datetime, message_sid: str | None = None, user_id: int | None = None,
        meal_id: int | None = None, detail: dict | None = None,
    ) -> None: ...  # fmt: skip
    def events(self, message_sid: str | None = None) -> list[EventRecord]: ...
