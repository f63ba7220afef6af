"""SQLAlchemy tables of the bot: users, inbound messages, meals, daily totals, usage, outbox, events, profiles,
labelled examples, pending questions, photos we ask about, labelled crops, stored photos, meal plans, what was
learned about each person. Table and column names are the schema of existing databases: keep them.

Times are naive UTC. Days and months are the user's local calendar ("2026-11-24", "2026-11").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(40), unique=True, doc="E.164, without a 'whatsapp:' prefix")
    tier: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Message(Base):
    """One inbound Twilio message. `message_sid` is unique: a retried webhook finds its first copy."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    from_addr: Mapped[str] = mapped_column(String(64))
    to_addr: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list] = mapped_column(JSON, default=list, doc="[{url, content_type}] of the photos to analyse")
    photos_reserved: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    twiml_reply: Mapped[str | None] = mapped_column(Text, doc="the TwiML answered to the webhook, replayed on retries")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Meal(Base):
    __tablename__ = "meals"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), unique=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    eaten_at: Mapped[datetime] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(16), doc="photo, later text or voice")
    grams: Mapped[float] = mapped_column(Float)
    kcal: Mapped[float] = mapped_column(Float)
    protein_g: Mapped[float] = mapped_column(Float)
    fat_g: Mapped[float] = mapped_column(Float)
    carbs_g: Mapped[float] = mapped_column(Float)
    models: Mapped[dict] = mapped_column(JSON, default=dict, doc="{'detector': {name, version}, ...} per photo")
    photos: Mapped[list] = mapped_column(JSON, default=list, doc="[{url, content_type, bytes, sha256}]")
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)

    items: Mapped[list[MealItem]] = relationship(
        back_populates="meal", cascade="all, delete-orphan", order_by="MealItem.id", lazy="selectin"
    )


class MealItem(Base):
    __tablename__ = "meal_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    meal_id: Mapped[int] = mapped_column(ForeignKey("meals.id"), index=True)
    photo_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(64))
    grams: Mapped[float] = mapped_column(Float)
    grams_low: Mapped[float] = mapped_column(Float)
    grams_high: Mapped[float] = mapped_column(Float)
    kcal: Mapped[float] = mapped_column(Float)
    protein_g: Mapped[float] = mapped_column(Float)
    fat_g: Mapped[float] = mapped_column(Float)
    carbs_g: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)

    meal: Mapped[Meal] = relationship(back_populates="items")


class DailyTotal(Base):
    __tablename__ = "daily_totals"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    meals: Mapped[int] = mapped_column(Integer, default=0)
    kcal: Mapped[float] = mapped_column(Float, default=0.0)
    protein_g: Mapped[float] = mapped_column(Float, default=0.0)
    fat_g: Mapped[float] = mapped_column(Float, default=0.0)
    carbs_g: Mapped[float] = mapped_column(Float, default=0.0)


class Usage(Base):
    """Counters of one user in one period ('hour', 'day', 'month'); incremented with a guarded UPDATE."""

    __tablename__ = "usage"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(16), primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    photos: Mapped[int] = mapped_column(Integer, default=0)
    ai_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    ai_output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    ai_cost_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0, doc="integer so concurrent adds are exact")
    limit_notices: Mapped[int] = mapped_column(Integer, default=0)
    # counters of revision 0004 have server defaults only: code inserting a row into an older schema still works
    ai_conversations: Mapped[int] = mapped_column(Integer, server_default="0", doc="coach answers that called the LLM")
    meal_plans_generated: Mapped[int] = mapped_column(Integer, server_default="0")
    calendar_syncs: Mapped[int] = mapped_column(Integer, server_default="0")


class Outbound(Base):
    """The outbox: every reply, written in the transaction that decided it; one per (message, kind).

    queued → twiml (answered in the webhook's response) or → sending → sent (REST, with Twilio's SID);
    a `sending` row whose lease expired is in an unknown state: Twilio is asked before it is sent again.
    failed: given up (the dead letters)."""

    __tablename__ = "outbound"
    __table_args__ = (UniqueConstraint("message_sid", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16), doc="result, unavailable, failed, reply, reply-2…")
    to_addr: Mapped[str] = mapped_column(String(64))
    from_addr: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True, doc="queued, twiml, sending, sent, failed")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempt_started_at: Mapped[datetime | None] = mapped_column(DateTime, doc="when the last REST send began")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    twilio_sid: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Event(Base):
    """Append-only trace: received, analysed, replied, failed… joined on message_sid / meal_id."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    message_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    meal_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class Profile(Base):
    """What the coach knows about a person, learnt a little at a time; absent until they tell us something."""

    __tablename__ = "profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    goal: Mapped[str | None] = mapped_column(String(16), doc="nutrition.targets.Goal value")
    allergens: Mapped[list] = mapped_column(JSON, default=list, doc="US top-9 names (nutrition.allergens.TOP9)")
    allergy_notes: Mapped[list] = mapped_column(JSON, default=list, doc="other allergies, as the person wrote them")
    allergies_known: Mapped[bool] = mapped_column(Boolean, default=False, doc="answered, even if 'none'")
    sex: Mapped[str | None] = mapped_column(String(8))
    age_years: Mapped[float | None] = mapped_column(Float)
    height_cm: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    activity: Mapped[str | None] = mapped_column(String(16))
    asking: Mapped[str | None] = mapped_column(String(24), doc="the question we are waiting on an answer to")
    asked: Mapped[dict] = mapped_column(JSON, default=dict, doc="{question: day last asked}")
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class LabelledExample(Base):
    """A person's correction of a logged item, kept as a training label for the retraining loop."""

    __tablename__ = "labelled_examples"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    meal_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16), doc="relabel, grams, remove")
    source: Mapped[str] = mapped_column(String(16), doc="photo or text")
    photo: Mapped[dict | None] = mapped_column(JSON, doc="{url, content_type, bytes, sha256} of the photo, if any")
    model_output: Mapped[dict] = mapped_column(JSON, doc="the item as logged, with the models that produced it")
    corrected: Mapped[dict] = mapped_column(JSON, doc="{label, display_name, grams} or {removed: true}")
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Clarification(Base):
    """A question we asked before logging a text meal (which food? how much?), one per person at a time."""

    __tablename__ = "clarifications"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class PhotoQuestion(Base):
    """An unknown food of a photo we ask about; a person's rows are a queue (lowest id first), one asked at a time."""

    __tablename__ = "photo_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    message_id: Mapped[int] = mapped_column(Integer, doc="the photo message; its meal gets the answer")
    message_sid: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))
    eaten_at: Mapped[datetime] = mapped_column(DateTime)
    photo_index: Mapped[int] = mapped_column(Integer)
    photo: Mapped[dict] = mapped_column(JSON, doc="{url, content_type, bytes, sha256}")
    item: Mapped[dict] = mapped_column(JSON, doc="box, grams, grams_basis, suggestions, embedding, where, image")
    choices: Mapped[list] = mapped_column(JSON, default=list, doc="[{name, display_name, ndb}] offered as (1), (2)…")
    meal: Mapped[dict] = mapped_column(JSON, default=dict, doc="{models, photos} to start the meal with if it has none")
    asked_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class LabelledCrop(Base):
    """A person's name for a food in a photo (the answer to our question): gallery entry and training label."""

    __tablename__ = "labelled_crops"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    message_sid: Mapped[str] = mapped_column(String(64))
    photo_sha256: Mapped[str | None] = mapped_column(String(64), index=True, doc="the bytes in the photo store")
    photo: Mapped[dict | None] = mapped_column(JSON, doc="{url, content_type, bytes, sha256}")
    box: Mapped[dict | None] = mapped_column(JSON, doc="{xmin, ymin, xmax, ymax} in pixels of the photo")
    image: Mapped[dict | None] = mapped_column(JSON, doc="{width, height} the box is measured in")
    label: Mapped[str] = mapped_column(String(64), doc="what the meal logs: an SR28 NDB number or an ECUSTFD type")
    ndb: Mapped[str | None] = mapped_column(String(8))
    display_name: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(Text, doc="what the person wrote")
    how: Mapped[str] = mapped_column(String(16), doc="choice (a number) or text")
    model_output: Mapped[dict] = mapped_column(JSON, doc="the unknown item as the server sent it, without embedding")
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, doc="float16 crop features, L2-normalised")
    created_at: Mapped[datetime] = mapped_column(DateTime)


class StoredPhoto(Base):
    """Who sent which stored photo: the bytes (by sha256, in the photo store) go when no row names them."""

    __tablename__ = "stored_photos"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class MediaDeletion(Base):
    """A deleted person's message whose media Twilio still keeps: written in the delete's transaction, removed once
    the delivery worker has deleted the files at Twilio, so a crash cannot forget it."""

    __tablename__ = "media_deletions"

    message_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class Subscription(Base):
    """A person's Stripe subscription as we last applied it (one per person); `users.tier` is what it entitles to.

    `comp_tier`: a tier set by hand (`bot.admin set-tier`); Stripe events still update the rest, never it."""

    __tablename__ = "subscriptions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), doc="the plan paid for at Stripe")
    status: Mapped[str] = mapped_column(String(24), doc="Stripe's: active, trialing, past_due, canceled, ...")
    current_period_start: Mapped[datetime | None] = mapped_column(DateTime)
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_at: Mapped[datetime | None] = mapped_column(DateTime, index=True, doc="the paid tier ends then")
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(64), index=True)
    last_event_created: Mapped[int] = mapped_column(BigInteger, default=0, doc="Unix time of the newest event applied")
    past_due_since: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    comp_tier: Mapped[str | None] = mapped_column(String(16), doc="set by hand (comped): granted whatever Stripe says")
    comp_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class StripeEvent(Base):
    """A Stripe event applied: inserted in the transaction of its change, so a redelivery changes nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True, doc="Stripe's evt_... id")
    type: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime)


class MealPreferences(Base):
    """What a person wants of their meal plans: {dislikes, cuisines, max_spice, max_minutes, budget}; read only
    through bot.plans.preferences (the personalization work fills it too)."""

    __tablename__ = "meal_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    values: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class PersonalPreferences(Base):
    """What the bot learned about a person (`nutrition.personalization.UserPreferences.to_dict()`), and the
    portion factors applied to their latest photo meal (so a correction learns from the model's own grams)."""

    __tablename__ = "personal_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    values: Mapped[dict] = mapped_column(JSON, default=dict)
    photo_portions: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, doc="the first thing learned: how long we have known them")
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class MealPlan(Base):
    """A person's meal plan for one local week (`week_start`: its Monday); a new plan that week replaces it."""

    __tablename__ = "meal_plans"
    __table_args__ = (UniqueConstraint("user_id", "week_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    week_start: Mapped[str] = mapped_column(String(10))
    start_day: Mapped[str] = mapped_column(String(10), doc="the local day of the plan's day 0")
    plan: Mapped[dict] = mapped_column(JSON, doc="nutrition.planning.planner.Plan.to_dict()")
    request: Mapped[dict] = mapped_column(JSON, doc="days, slots, leftovers, budget, skip, avoid")
    have: Mapped[list] = mapped_column(JSON, default=list, doc="items the person has: off the shopping list")
    shown: Mapped[dict | None] = mapped_column(JSON, doc="{day, slot} of the meal last looked at")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class PlanRating(Base):
    """A person's 1-5 rating of a planned meal, for personalization."""

    __tablename__ = "plan_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("meal_plans.id"), index=True)
    day_index: Mapped[int] = mapped_column(Integer)
    slot: Mapped[str] = mapped_column(String(16))
    recipe_id: Mapped[str] = mapped_column(String(64), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ShortLink(Base):
    """Our redirect `/r/{id}` (an unguessable id, nothing personal in it) to a provider's page; clicks are events
    of kind `link_click`."""

    __tablename__ = "short_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, doc="secrets.token_urlsafe(16)")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("meal_plans.id"), index=True)
    provider: Mapped[str] = mapped_column(String(24), doc="instacart, amazon_fresh")
    target: Mapped[str] = mapped_column(Text, doc="the provider's URL")
    basis: Mapped[str] = mapped_column(String(64), doc="sha256 of the line items: the same list reuses the link")
    created_at: Mapped[datetime] = mapped_column(DateTime)


class StripeCancellation(Base):
    """A deleted person's Stripe subscription, queued in the delete's transaction and cancelled at Stripe by the
    billing worker with backoff, so nobody is charged for an account that is gone."""

    __tablename__ = "stripe_cancellations"

    stripe_subscription_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ScheduledJob(Base):
    """A message the bot sends on its own at `due_at` (a weekly check-in, a cooking reminder, a plan-ready notice):
    one row per `key`, so planning the same job twice changes nothing (bot.calendar).

    pending → sending (leased, `body` and `attempt_started_at` written before the Twilio call) → sent (Twilio's
    SID); failed (given up), skipped (nothing to send: opted out, no plan, outside WhatsApp's window without a
    template), unknown (a template whose sender died mid-send: never sent twice)."""

    __tablename__ = "scheduled_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True, doc="checkin:{user}:{week}, cook:{user}:{plan}:...")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), doc="checkin, cooking, plan_ready")
    due_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    attempt_started_at: Mapped[datetime | None] = mapped_column(DateTime)
    body: Mapped[str | None] = mapped_column(Text, doc="what was (being) sent: free text, or the template's variables")
    via: Mapped[str | None] = mapped_column(String(16), doc="text or template")
    twilio_sid: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class CalendarPerson(Base):
    """A person's calendar settings: where their time zone came from, their ICS feed, of which only the token's
    sha256 is kept (`feed_generation` goes up when it is revoked, so the next link is a new one), and their Google
    Calendar connection (the refresh token encrypted)."""

    __tablename__ = "calendar_people"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    zone_source: Mapped[str | None] = mapped_column(String(16), doc="phone (inferred), person (told us)")
    feed_token_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    feed_generation: Mapped[int] = mapped_column(Integer, default=0)
    synced_plan: Mapped[str | None] = mapped_column(String(64), doc="'{plan id}@{updated}' last counted as a sync")
    google_refresh_token: Mapped[bytes | None] = mapped_column(LargeBinary, doc="Fernet-encrypted, never plain")
    google_calendar_id: Mapped[str | None] = mapped_column(String(255), doc="the dedicated calendar we made")
    google_status: Mapped[str | None] = mapped_column(String(16), doc="connected, revoked")
    google_synced_plan: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
