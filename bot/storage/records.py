"""The plain records the store returns, and the message statuses. Times are naive UTC (`utcnow`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


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


# An item's fields in storage order; the analysis answer carries all of them but `photo_index`.
ITEM_FIELDS = tuple(ItemRecord.__dataclass_fields__)


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
    user_id: int | None = None
    status: str = "queued"
    # set when this claim found the row `sending` under an expired lease: did that send reach Twilio?
    unknown_since: datetime | None = None


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


PROFILE_FIELDS = (
    "goal",
    "allergens",
    "allergy_notes",
    "allergies_known",
    "sex",
    "age_years",
    "height_cm",
    "weight_kg",
    "activity",
    "asking",
    "asked",
)


@dataclass(frozen=True)
class Clarification:
    kind: str
    payload: dict


@dataclass(frozen=True)
class PhotoQuestion:
    """An unknown food of a photo we ask the person about, one at a time (`asked_at` set on the one asked).

    `item`: what the model server said of it (box, grams…, suggestions, embedding, where in the photo);
    `choices`: the foods offered as (1), (2)… [{name, display_name, ndb}]."""

    id: int
    user_id: int
    message_id: int
    message_sid: str
    day: str
    eaten_at: datetime
    photo_index: int
    photo: dict
    item: dict
    choices: tuple[dict, ...]
    asked_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class LabelledCrop:
    """A person's name for a food in a photo: the crop (photo sha256 + box) and its label, for the gallery and
    for retraining. `embedding`: the crop's float16 features as the model server sent them, if it did."""

    id: int
    user_id: int
    message_sid: str
    photo_sha256: str | None
    box: dict | None
    image: dict | None
    label: str
    ndb: str | None
    display_name: str
    answer: str
    how: str
    model_output: dict
    embedding: bytes | None
    created_at: datetime


@dataclass(frozen=True)
class AnsweredQuestion:
    """What answering a photo question changed: the meal (None if it was undone), the day, the next question."""

    meal: MealRecord | None
    totals: DayTotals | None
    next: PhotoQuestion | None


@dataclass(frozen=True)
class DeletedUser:
    """What a hard delete of a person leaves for the caller to remove outside the database."""

    orphan_photos: list[str]  # sha256 of their stored photos nobody else sent: bytes in the photo store
    media_messages: list[str]  # Twilio SIDs of their inbound messages that had media: files kept at Twilio


# Message statuses. `pending` is the only one the retry worker picks up (its lease makes that safe).
PENDING, DONE, REJECTED, FAILED, IGNORED = "pending", "done", "rejected", "failed", "ignored"


def utcnow() -> datetime:
    """Naive UTC: what every stored time is."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class PlanRecord:
    """A person's meal plan for one local week (`week_start`: its Monday); day 0 is `start_day`.

    `plan`: `nutrition.planning.planner.Plan.to_dict()`; `request`: what it was asked with (days, slots, leftovers,
    budget, skip, avoid), so an edit re-plans with the same; `have`: items the person has (off the shopping list);
    `shown`: the meal they last looked at {day, slot}, which a bare rating is for."""

    id: int
    user_id: int
    week_start: str
    start_day: str
    plan: dict
    request: dict
    have: tuple[str, ...]
    shown: dict | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PlanRating:
    """A person's rating (1-5) of a planned meal, kept for personalization."""

    id: int
    user_id: int
    plan_id: int
    day_index: int
    slot: str
    recipe_id: str
    rating: int
    created_at: datetime


@dataclass(frozen=True)
class ShortLink:
    """Our redirect `/r/{id}` to a provider's page (a grocery cart); `basis`: digest of what the page holds, so
    the same list reuses its link."""

    id: str
    user_id: int
    plan_id: int
    provider: str
    target: str
    basis: str
    created_at: datetime


@dataclass(frozen=True)
class JobRecord:
    """A scheduled message (`scheduled_jobs`); `unknown_since` is set on a job claimed after its sender died
    mid-send (Twilio may have it: ask before sending again)."""

    id: int
    key: str
    user_id: int
    kind: str
    due_at: datetime
    payload: dict
    status: str
    attempts: int
    body: str | None = None
    via: str | None = None
    twilio_sid: str | None = None
    unknown_since: datetime | None = None


@dataclass(frozen=True)
class CalendarPersonRecord:
    user_id: int
    zone_source: str | None = None
    feed_token_sha256: str | None = None
    feed_generation: int = 0
    synced_plan: str | None = None
    google_refresh_token: bytes | None = None  # encrypted
    google_calendar_id: str | None = None
    google_status: str | None = None
    google_synced_plan: str | None = None


@dataclass(frozen=True)
class LastInbound:
    """The person's latest message: who wrote to which of our numbers, and when (WhatsApp's 24-hour window)."""

    from_addr: str
    to_addr: str
    at: datetime
