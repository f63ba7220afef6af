"""What the bot asks of its store, one small protocol per subject, so an adapter (SQL today, DynamoDB next)
implements them one by one; `BotStore` is all of them.

Every method is blocking (call it with `off_loop` from async code) and one atomic operation: the adapter
decides how (a database transaction, a conditional write). Where several must stand or fall together (a meal,
its message's new state and its reply in the outbox) the caller opens `unit_of_work()` around them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol, TypeVar

import anyio.to_thread

from bot.storage.records import (
    AnsweredQuestion,
    Bucket,
    CalendarPersonRecord,
    Clarification,
    DayTotals,
    DeletedUser,
    EventRecord,
    ItemRecord,
    JobRecord,
    LabelledCrop,
    LastInbound,
    MealRecord,
    MediaRef,
    MessageRecord,
    OutboundRecord,
    PhotoQuestion,
    PlanRating,
    PlanRecord,
    ProfileRecord,
    ShortLink,
    UserRecord,
)

T = TypeVar("T")


async def off_loop(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run a blocking store (or Twilio client) call in a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))


class SchemaStore(Protocol):
    def create_schema(self) -> None: ...

    def ping(self) -> None:
        """Raise if the database cannot be reached."""

    def unit_of_work(self) -> AbstractContextManager[None]:
        """One transaction for every store call inside the block, in this thread: all of them or none."""


class PeopleStore(Protocol):
    """People and what the coach knows about them."""

    def get_or_create_user(self, phone: str, tier: str, timezone: str) -> UserRecord: ...
    def get_user(self, user_id: int) -> UserRecord: ...
    def set_opted_out(self, user_id: int, opted_out: bool) -> None: ...
    def set_tier(self, user_id: int, tier: str) -> None: ...
    def get_profile(self, user_id: int) -> ProfileRecord: ...
    def update_profile(self, user_id: int, now: datetime, **values) -> ProfileRecord: ...


class PendingQuestionStore(Protocol):
    """The one question per person we wait on an answer to before logging a typed meal."""

    def set_clarification(self, user_id: int, kind: str, payload: dict, now: datetime) -> None: ...
    def get_clarification(self, user_id: int) -> Clarification | None: ...
    def clear_clarification(self, user_id: int) -> None: ...


class PhotoQuestionStore(Protocol):
    """Questions about the unknown foods of a photo, asked one at a time; each answer is logged and kept."""

    def set_photo_questions(
        self,
        user_id: int,
        message_id: int,
        message_sid: str,
        day: str,
        eaten_at: datetime,
        meal: dict,
        questions: list[dict],
        now: datetime,
    ) -> PhotoQuestion | None:
        """Replace the person's questions with `questions` ({photo_index, photo, item, choices}), the first one
        asked now; a pending typed-meal question goes (the newest question is the one answered). `meal`:
        {models, photos} of the message, to start its meal if it has none."""

    def photo_question(self, user_id: int) -> PhotoQuestion | None:
        """The question asked and not yet answered."""

    def set_question_choices(self, question_id: int, choices: list[dict]) -> None: ...

    def answer_photo_question(
        self, question_id: int, crop: dict, item: ItemRecord | None, now: datetime
    ) -> AnsweredQuestion | None:
        """Keep the answer as a labelled crop (`crop`: label, ndb, display_name, answer, how), add `item` to the
        message's meal (started if it has none; not if it was undone), ask the next question; atomic. None when
        the question is gone (answered or dropped meanwhile)."""

    def clear_photo_questions(self, user_id: int) -> int:
        """Drop every question of the person; how many there were."""


class LabelledCropStore(Protocol):
    """People's names for foods in their photos: the gallery, and training labels for retraining."""

    def labelled_crops(self, user_id: int | None = None, with_embedding: bool = False) -> list[LabelledCrop]: ...


class StoredPhotoStore(Protocol):
    """Who sent which photo kept in the photo store (the bytes live there, by sha256)."""

    def add_stored_photos(self, user_id: int, photos: list[dict], now: datetime) -> None:
        """Note that the user sent these photos ({sha256, content_type, bytes}); idempotent."""

    def stored_photos(self, user_id: int | None = None) -> list[str]:
        """The sha256 of the photos the user (or anyone) sent."""


class MessageStore(Protocol):
    """Inbound messages, their status and their retry lease."""

    def record_inbound(
        self,
        sid: str,
        user_id: int,
        from_addr: str,
        to_addr: str,
        body: str,
        media: list[MediaRef],
        status: str,
        now: datetime,
        lease_until: datetime | None,
    ) -> tuple[MessageRecord, bool]:
        """Insert the message; `(existing, False)` when its sid was seen before."""

    def get_message(self, sid: str) -> MessageRecord | None: ...
    def set_photos_reserved(self, sid: str, photos: int) -> None: ...
    def set_twiml_reply(self, sid: str, twiml_reply: str) -> None: ...
    def finish_message(self, sid: str, status: str, twiml_reply: str | None, now: datetime) -> None:
        """Set the final status (or keep `pending`), release the lease, store the TwiML answered."""

    def schedule_retry(self, sid: str, error: str, next_attempt_at: datetime, now: datetime) -> None: ...
    def claim_due_messages(self, now: datetime, lease_until: datetime, limit: int) -> list[MessageRecord]:
        """Lease `pending` messages whose retry time has come and whose lease (if any) has expired."""

    def take_over(self, sid: str, now: datetime, lease_until: datetime) -> MessageRecord | None:
        """Lease a `pending` message whose lease expired (its worker died); None if it is not such a message."""

    def failed_messages(self, limit: int = 100) -> list[dict]:
        """Messages given up on after the last retry, newest first."""

    def count_messages(self, status: str) -> int: ...


class MealStore(Protocol):
    """Meals, their items and each day's totals."""

    def save_meal(
        self,
        message_id: int,
        user_id: int,
        day: str,
        eaten_at: datetime,
        items: list[ItemRecord],
        models: dict,
        photos: list[dict],
        source: str = "photo",
    ) -> tuple[MealRecord, DayTotals]:
        """Insert the meal and add it to the day's totals; for a message already logged return its meal."""

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
        keep a labelled example (`example`: kind, corrected) with the photo and model output; atomic.
        Returns (meal after, item before, day totals); None when there is no meal."""


class LabelledExampleStore(Protocol):
    """People's corrections kept as training labels (written by `MealStore.correct_last_meal`)."""

    def labelled_examples(self, user_id: int | None = None) -> list[dict]: ...


class UsageStore(Protocol):
    """The usage ledger's counters per user and period."""

    def consume(self, user_id: int, buckets: list[Bucket], counter: str, amount: int) -> Bucket | None:
        """Add `amount` to `counter` in every bucket, all or nothing; return the first bucket whose limit
        would be passed (nothing is then added) or None."""

    def add_usage(self, user_id: int, buckets: list[Bucket], amounts: dict[str, int]) -> None: ...
    def usage(self, user_id: int, period: str, key: str) -> dict[str, int]: ...
    def usages(self, user_id: int, period: str, keys: Collection[str]) -> dict[str, dict[str, int]]:
        """`usage` of each of `keys` (zeros where none), in one read: a week of day buckets for the stage."""


class OutboxStore(Protocol):
    """The outbox: every reply, one row per (message, kind), delivered once (TwiML or REST)."""

    def enqueue_outbound(
        self,
        sid: str,
        kind: str,
        to_addr: str,
        from_addr: str,
        body: str,
        now: datetime,
        lease_until: datetime,
        user_id: int | None = None,
    ) -> OutboundRecord | None:
        """Queue a reply, leased to the caller; None when this (sid, kind) was queued before."""

    def claim_outbound(self, outbound_id: int, now: datetime, lease_until: datetime) -> OutboundRecord | None:
        """Take a `queued` row for a REST send now; None when it was answered or taken another way."""

    def claim_due_outbound(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboundRecord]:
        """Lease rows due for a REST send; a row whose last send's fate is unknown has `unknown_since` set."""

    def mark_twiml(self, outbound_ids: list[int], confirm_after: datetime | None = None) -> int:
        """Rows still `queued` that a webhook response carried are `answered`: due at `confirm_after` (default in
        60 s) to be looked up at Twilio, and sent by REST if Twilio never got them."""

    def replay_twiml(self, sid: str, confirm_after: datetime | None = None) -> list[str]:
        """Bodies to answer a Twilio retry of `sid` with (rows not sent by REST; queued ones become `answered`)."""

    def twilio_sids(self, to_addr: str, since: datetime) -> set[str]:
        """Twilio SIDs of replies to `to_addr` sent by REST since `since`."""

    def dead_letters(self, limit: int = 100) -> list[dict]: ...
    def mark_outbound(
        self,
        outbound_id: int,
        status: str,
        now: datetime,
        twilio_sid: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        lease_until: datetime | None = None,
    ) -> None: ...
    def outbound(self, sid: str | None = None) -> list[dict]: ...


class EventStore(Protocol):
    """The append-only trace of what happened to each message and meal."""

    def add_event(
        self,
        kind: str,
        now: datetime,
        message_sid: str | None = None,
        user_id: int | None = None,
        meal_id: int | None = None,
        detail: dict | None = None,
    ) -> None: ...
    def events(self, message_sid: str | None = None) -> list[EventRecord]: ...
    def events_of_kind(self, kinds: tuple[str, ...], since: datetime | None = None) -> list[EventRecord]:
        """The events of these kinds (at or after `since`), oldest first: for reports such as link clicks."""


class PrivacyStore(Protocol):
    def export_user(self, user_id: int) -> dict:
        """Everything stored about the user, as JSON-ready data."""

    def delete_user(self, user_id: int) -> DeletedUser:
        """Hard delete of the user and everything stored about them; returns what the caller deletes elsewhere:
        the sha256 of their stored photos that nobody else sent (photo store), and the SIDs of their inbound
        messages that had media (Twilio keeps those files: queued in the same transaction for deletion there)."""

    def claim_media_deletions(self, now: datetime, lease_until: datetime, limit: int) -> list[tuple[str, int]]:
        """(message SID, attempts with this one) whose media is due for deletion at Twilio, leased to the caller."""

    def media_deleted(self, message_sid: str) -> None: ...
    def media_deletion_failed(self, message_sid: str, error: str, next_attempt_at: datetime) -> None: ...
    def media_deletions(self) -> list[dict]:
        """Deletions at Twilio still outstanding."""


class PlanStore(Protocol):
    """Meal plans per person per local week, what each person wants of them, ratings of planned meals, our grocery
    short links (`/r/{id}`)."""

    def meal_preferences(self, user_id: int) -> dict:
        """{dislikes, cuisines, max_spice, max_minutes, budget}, as far as known ({} when nothing is)."""

    def set_meal_preferences(self, user_id: int, values: dict, now: datetime) -> dict: ...
    def save_plan(
        self, user_id: int, week_start: str, start_day: str, plan: dict, request: dict, now: datetime
    ) -> PlanRecord:
        """Store the person's plan for the week of `week_start`, replacing one made earlier that week."""

    def update_plan(self, plan_id: int, now: datetime, **values) -> PlanRecord:
        """Change some of plan, request, have, shown."""

    def latest_plan(self, user_id: int) -> PlanRecord | None:
        """The plan that starts latest."""

    def add_plan_rating(
        self, user_id: int, plan_id: int, day_index: int, slot: str, recipe_id: str, rating: int, now: datetime
    ) -> None: ...
    def plan_ratings(self, user_id: int) -> list[PlanRating]: ...
    def short_link(self, user_id: int, plan_id: int, provider: str, basis: str) -> ShortLink | None:
        """The link made before for this very list (`basis`), if any."""

    def add_short_link(
        self, user_id: int, plan_id: int, provider: str, target: str, basis: str, now: datetime
    ) -> ShortLink:
        """A new link with an unguessable id to `target`."""

    def get_short_link(self, link_id: str) -> ShortLink | None: ...


class PersonalStore(Protocol):
    """What the bot learned about each person (`nutrition.personalization.UserPreferences.to_dict()`), and the
    portion factors applied to their latest photo meal."""

    def personal_preferences(self, user_id: int) -> dict:
        """The learned preferences as stored ({} when nothing is learned yet)."""

    def set_personal_preferences(self, user_id: int, values: dict, now: datetime) -> None: ...
    def photo_portions(self, user_id: int) -> dict | None:
        """{meal_id, items: {index: {food, model_g, factor}}} of the latest photo meal whose grams were shown."""

    def set_photo_portions(self, user_id: int, portions: dict | None, now: datetime) -> None: ...
    def personal_since(self, user_id: int) -> datetime | None:
        """When the first thing was learned about the person (None: nothing yet)."""


class CalendarStore(Protocol):
    """Scheduled messages (claimed atomically, sent once) and each person's calendar settings (bot.calendar)."""

    def schedule_job(self, key: str, user_id: int, kind: str, due_at: datetime, payload: dict, now: datetime) -> bool:
        """Add the job named `key` unless it exists; a pending one gets the new time and payload. True if added."""

    def cancel_jobs(self, user_id: int, prefix: str, keep: Collection[str], now: datetime) -> int:
        """Cancel the person's pending jobs whose key starts with `prefix`, except those in `keep` (a re-plan)."""

    def claim_due_jobs(self, now: datetime, lease_until: datetime, limit: int) -> list[JobRecord]:
        """Lease pending jobs that are due, and `sending` ones whose sender died (with `unknown_since`)."""

    def job_sending(self, job_id: int, body: str, via: str, now: datetime, lease_until: datetime) -> None:
        """Write what is about to be sent (before the Twilio call), so a crash can be checked against Twilio."""

    def finish_job(self, job_id: int, status: str, now: datetime, **values) -> None:
        """sent (twilio_sid), pending again (due_at, last_error), failed, skipped or unknown (last_error)."""

    def jobs(self, user_id: int) -> list[JobRecord]: ...
    def set_timezone(self, user_id: int, timezone: str, source: str, now: datetime) -> UserRecord: ...
    def calendar_person(self, user_id: int) -> CalendarPersonRecord: ...
    def set_feed(self, user_id: int, token_sha256: str | None, now: datetime, **values) -> CalendarPersonRecord:
        """Set (or with None revoke, raising the generation) the feed token's hash; `synced_plan` may come too."""

    def feed_synced(self, user_id: int, token_sha256: str, synced_plan: str, now: datetime) -> bool:
        """Note `synced_plan` as counted a sync, only while `token_sha256` is still the person's feed token (a
        fetch racing a revoke never brings the revoked link back). False when it is not."""

    def set_google(self, user_id: int, now: datetime, **values) -> CalendarPersonRecord:
        """Change some of google_refresh_token (encrypted), google_calendar_id, google_status, google_synced_plan.
        A calendar id is set only where none is (None clears it): of two processes that each made one, the first
        is kept, and the record returned names it."""

    def google_connected(self) -> list[int]:
        """The people whose Google Calendar is connected."""

    def feed_owner(self, token_sha256: str) -> int | None: ...
    def last_inbound(self, user_id: int) -> LastInbound | None: ...
    def plans_changed_since(self, since: datetime) -> list[PlanRecord]:
        """Plans made or edited after `since` (the scheduler plans their reminders)."""


class BotStore(
    SchemaStore,
    PeopleStore,
    PendingQuestionStore,
    PhotoQuestionStore,
    MessageStore,
    MealStore,
    LabelledExampleStore,
    LabelledCropStore,
    StoredPhotoStore,
    UsageStore,
    OutboxStore,
    EventStore,
    PrivacyStore,
    PlanStore,
    PersonalStore,
    Protocol,
):
    """Everything the bot persists."""


class WorkStore(Protocol):
    """What a shared work queue (BOT_WORK_QUEUE=sqs, `bot.workqueue`) asks of the store besides `BotStore`: the
    queue names an item, the store decides whether it is still to do and leases it to one taker."""

    def claim_message_if_due(
        self, sid: str, now: datetime, lease_until: datetime
    ) -> tuple[MessageRecord | None, datetime | None]:
        """Lease `pending` message `sid` if due (as `claim_due_messages`); else (None, when due) or (None, None)."""

    def claim_outbound_if_due(
        self, outbound_id: int, now: datetime, lease_until: datetime
    ) -> tuple[OutboundRecord | None, datetime | None]:
        """Lease outbox row `outbound_id` if due (as `claim_due_outbound`); else (None, when due) or (None, None)."""

    def overdue_work(self, before: datetime, limit: int) -> tuple[list[str], list[int]]:
        """Sids of messages and ids of outbox rows due at `before` and not taken since; nothing is leased."""


@dataclass(frozen=True)
class SubscriptionRecord:
    """A person's subscription as last applied (`bot.billing`): the tier paid for and Stripe's state.
    Times are naive UTC; `cancel_at`: when the paid tier ends if nothing changes (a cancellation at period end)."""

    user_id: int
    tier: str
    status: str
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    cancel_at: datetime | None = None
    stripe_customer_id: str | None = None
    stripe_subscription_id: str | None = None
    last_event_created: int = 0
    past_due_since: datetime | None = None
    comp_tier: str | None = None  # set by hand (`bot.admin set-tier`): granted whatever Stripe says
    comp_reason: str | None = None


class BillingStore(Protocol):
    """Subscriptions, the Stripe events applied, and what billing reads of the rest (addresses, replies sent)."""

    def subscription(self, user_id: int) -> SubscriptionRecord | None: ...
    def subscription_by_customer(self, customer_id: str) -> SubscriptionRecord | None: ...
    def save_subscription(self, record: SubscriptionRecord, now: datetime) -> None:
        """Insert or replace the person's subscription row."""

    def add_stripe_event(self, event_id: str, event_type: str, now: datetime) -> bool:
        """Note a Stripe event as applied; False when it was before (call it in the unit of work of its change)."""

    def stripe_event_seen(self, event_id: str) -> bool: ...
    def subscriptions_to_check(self, now: datetime, past_due_before: datetime) -> list[SubscriptionRecord]:
        """Paid tiers still granted (not comped) whose cancellation time has come, or past due since before
        `past_due_before`: the scheduled check downgrades them."""

    def user_by_phone(self, phone: str) -> UserRecord | None: ...
    def last_address(self, user_id: int) -> tuple[str, str] | None:
        """(their address, our number) of the person's latest message: where a notice goes."""

    def replies_sent(self, user_id: int, since: datetime, until: datetime) -> int:
        """Messages delivered to the person (TwiML or REST) created in [since, until): what Twilio bills."""

    def day_usage_keys(self, since_key: str) -> list[tuple[int, str]]:
        """(user id, day) of every day usage row from `since_key` on (the admin's over-cap list)."""

    def claim_stripe_cancellations(self, now: datetime, lease_until: datetime, limit: int) -> list[tuple[str, int]]:
        """(Stripe subscription id, attempts with this one) of deleted people, due to be cancelled at Stripe."""

    def stripe_cancelled(self, subscription_id: str) -> None: ...
    def stripe_cancellation_failed(self, subscription_id: str, error: str, next_attempt_at: datetime) -> None: ...


class BillingBotStore(BotStore, BillingStore, Protocol):
    """What the billing wing persists and reads: everything."""


class OpsStore(Protocol):
    """What operations read in bulk (bot/ops): queue depths and counts for /metrics, every person for the
    analytics export. Read-only."""

    def count_outbound(self, status: str) -> int:
        """Outbox rows in `status` (queued, sending, failed...)."""

    def people_by_tier(self) -> dict[str, int]:
        """How many people each tier has (as `users.tier`: what they are entitled to now)."""

    def subscriptions_by_status(self) -> dict[tuple[str, str], int]:
        """How many subscriptions there are per (tier paid for, Stripe status)."""

    def user_ids(self, after: int = 0, limit: int = 500) -> list[int]:
        """The ids of people after `after`, ascending, `limit` at most (a page; the next starts after the last)."""

    def usage_rows(self, period: str, since_key: str) -> list[tuple[int, str, str, str, int, int]]:
        """(user id, tier, timezone, key, photos, ai_cost_micro_usd) of every `period` ('day', 'month') usage row
        whose key is `since_key` or later: the ledger of everyone at once, for the cost gauges."""

    def replies_sent_by_user(self, since: datetime, until: datetime, timezone: str) -> dict[int, int]:
        """Replies delivered (TwiML or REST) created in [since, until), per person of `timezone` (those with any)."""


class CalendarBotStore(BotStore, CalendarStore, Protocol):
    """What the calendar wing needs: the bot's store and its own jobs and settings."""
