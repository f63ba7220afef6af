"""Usage ledger and limits: messages, photos analysed, AI conversations and tokens, meal plans, calendar syncs and
what each person costs us per hour/day/month, by tier.

Counting and checking are one atomic store call over every period (`UsageStore.consume`: all or nothing), so
fifty photos arriving at once cannot slip past a limit of three.

Cost = AI (recorded per call, in micro-USD) + vision (photos analysed × `vision_cost_usd_per_photo`) + messaging
(replies delivered × `twilio_cost_usd_per_message`); the last two are priced when read, at the configured rates.
Past the tier's `daily_cost_cap_usd` a person gets no more photo analyses or meal plans that day, and the coach
answers with its free local tips.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.settings import BotSettings, TierLimits
from bot.storage.protocols import BillingStore, EventStore, UsageStore
from bot.storage.records import Bucket, UserRecord


@dataclass(frozen=True)
class LimitHit:
    """Why something was refused: `what` ('rate', 'messages', 'photos', 'meal_plans', 'calendar_syncs', or 'cost':
    the daily cost cap, `limit` then in US cents) over `limit` per `period`."""

    what: str
    period: str
    limit: int
    tier: str
    remaining: int = 0


def period_keys(now_utc: datetime, timezone: str) -> dict[str, str]:
    """The user's local hour, day and month that `now_utc` (naive UTC) falls in."""
    local = now_utc.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone))
    return {"hour": local.strftime("%Y-%m-%dT%H"), "day": local.strftime("%Y-%m-%d"), "month": local.strftime("%Y-%m")}


def period_bounds(period: str, key: str, timezone: str) -> tuple[datetime, datetime]:
    """The naive UTC [start, end) of the user's local day ('2026-11-24') or month ('2026-11') named by `key`."""
    zone = ZoneInfo(timezone)
    if period == "day":
        start = datetime.fromisoformat(key).replace(tzinfo=zone)
        end = start + timedelta(days=1)  # wall-clock arithmetic: a 23- or 25-hour day when the clocks change
    elif period == "month":
        start = datetime.fromisoformat(key + "-01").replace(tzinfo=zone)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"period {period!r} has no bounds; expected 'day' or 'month'")
    return tuple(at.astimezone(UTC).replace(tzinfo=None) for at in (start, end))


@dataclass(frozen=True)
class Costs:
    """What a person cost us in a period, in USD."""

    ai_usd: float
    vision_usd: float
    messaging_usd: float

    @property
    def total_usd(self) -> float:
        return self.ai_usd + self.vision_usd + self.messaging_usd


class LedgerStore(UsageStore, BillingStore, EventStore, Protocol):
    """The counters, the replies delivered (for the messaging cost) and the events (voice notes' seconds)."""


_HIT_NAMES = {"meal_plans_generated": "meal_plans", "calendar_syncs": "calendar_syncs"}


class Ledger:
    def __init__(self, store: LedgerStore, settings: BotSettings):
        self.store = store
        self.settings = settings

    def limits(self, user: UserRecord) -> TierLimits:
        return self.settings.tiers.get(user.tier) or self.settings.tiers[self.settings.default_tier]

    def _buckets(self, user: UserRecord, now: datetime, limits: dict[str, int | None]) -> list[Bucket]:
        keys = period_keys(now, user.timezone)
        return [Bucket(period, keys[period], limit) for period, limit in limits.items()]

    def admit_message(self, user: UserRecord, now: datetime) -> LimitHit | None:
        """Count one inbound message, unless it passes the hourly rate limit or the daily allowance."""
        limits = self.limits(user)
        buckets = self._buckets(user, now, {"hour": limits.messages_per_hour, "day": limits.messages_per_day})
        refused = self.store.consume(user.id, buckets, "messages", 1)
        if refused is None:
            return None
        return LimitHit(
            "rate" if refused.period == "hour" else "messages", refused.period, refused.limit or 0, user.tier
        )

    def reserve_photos(self, user: UserRecord, count: int, now: datetime) -> LimitHit | None:
        """Count `count` photos against the day and month allowances, all of them or none; none past the daily cost
        cap."""
        capped = self.over_cost_cap(user, now)
        if capped is not None:
            return capped
        limits = self.limits(user)
        buckets = self._buckets(user, now, {"day": limits.photos_per_day, "month": limits.photos_per_month})
        refused = self.store.consume(user.id, buckets, "photos", count)
        if refused is None:
            return None
        used = self.store.usage(user.id, refused.period, refused.key)["photos"]
        limit = refused.limit or 0
        return LimitHit("photos", refused.period, limit, user.tier, remaining=max(0, limit - used))

    def refund_photos(self, user: UserRecord, count: int, reserved_at: datetime) -> None:
        """Give back photos that were reserved at `reserved_at` but could not be analysed."""
        if count > 0:
            buckets = self._buckets(user, reserved_at, {"day": None, "month": None})
            self.store.add_usage(user.id, buckets, {"photos": -count})

    def reserve_meal_plan(self, user: UserRecord, now: datetime) -> LimitHit | None:
        """Count one meal plan against the month's allowance, unless it is used up (atomic: two at once can't
        both pass the last one)."""
        capped = self.over_cost_cap(user, now)
        if capped is not None:
            return capped
        return self._reserve_monthly(user, now, "meal_plans_generated", self.limits(user).meal_plans_per_month)

    def refund_meal_plan(self, user: UserRecord, reserved_at: datetime) -> None:
        """Give back a meal plan reserved at `reserved_at` that could not be made."""
        self._refund_monthly(user, reserved_at, "meal_plans_generated")

    def reserve_calendar_sync(self, user: UserRecord, now: datetime) -> LimitHit | None:
        """Count one calendar sync against the month's allowance, unless it is used up."""
        return self._reserve_monthly(user, now, "calendar_syncs", self.limits(user).calendar_syncs_per_month)

    def refund_calendar_sync(self, user: UserRecord, reserved_at: datetime) -> None:
        self._refund_monthly(user, reserved_at, "calendar_syncs")

    def _reserve_monthly(self, user: UserRecord, now: datetime, counter: str, limit: int) -> LimitHit | None:
        refused = self.store.consume(user.id, self._buckets(user, now, {"month": limit}), counter, 1)
        if refused is None:
            return None
        return LimitHit(_HIT_NAMES[counter], "month", limit, user.tier)

    def _refund_monthly(self, user: UserRecord, reserved_at: datetime, counter: str) -> None:
        self.store.add_usage(user.id, self._buckets(user, reserved_at, {"month": None}), {counter: -1})

    def first_notice(self, user: UserRecord, now: datetime) -> bool:
        """True once per hour per user: limit replies cost money too, so the rest are silent."""
        bucket = self._buckets(user, now, {"hour": 1})
        return self.store.consume(user.id, bucket, "limit_notices", 1) is None

    def record_ai_usage(
        self, user: UserRecord, input_tokens: int, output_tokens: int, cost_usd: float, now: datetime
    ) -> None:
        """Add an LLM call (one AI conversation), its tokens and cost to the user's day and month (the coach calls
        this)."""
        amounts = {
            "ai_conversations": 1,
            "ai_input_tokens": input_tokens,
            "ai_output_tokens": output_tokens,
            "ai_cost_micro_usd": round(cost_usd * 1_000_000),
        }
        self.store.add_usage(user.id, self._buckets(user, now, {"day": None, "month": None}), amounts)

    def record_namer_usage(self, user: UserRecord, usage: Mapping, now: datetime) -> None:
        """Add a cloud food namer's cost (serving's `serving.namers.Usage.as_dict()`, sent with the analysis) to the
        user's day and month. Cost only: a photo's image tokens (~1,600 on Nova Lite) are not the coach's tokens and
        must not use up `ai_tokens_per_month`."""
        cost_usd = float(usage.get("cost_usd") or 0.0)
        if cost_usd > 0:
            buckets = self._buckets(user, now, {"day": None, "month": None})
            self.store.add_usage(user.id, buckets, {"ai_cost_micro_usd": round(cost_usd * 1_000_000)})

    def record_voice(self, user: UserRecord, seconds: float, cost_usd: float, now: datetime) -> None:
        """A voice note transcribed (bot/voice): its cost counts with the AI's, so the daily cost cap covers it; its
        seconds are in the note's `transcribed` event (`voice_usage` sums them)."""
        if cost_usd > 0:
            buckets = self._buckets(user, now, {"day": None, "month": None})
            self.store.add_usage(user.id, buckets, {"ai_cost_micro_usd": round(cost_usd * 1_000_000)})

    def voice_usage(self, user: UserRecord, period: str, key: str) -> tuple[float, float]:
        """(seconds of voice notes, their transcription cost in USD) in the user's local day or month `key`."""
        start, end = period_bounds(period, key, user.timezone)
        events = [
            e for e in self.store.events_of_kind(("transcribed",), since=start) if e.user_id == user.id and e.at < end
        ]
        return sum(e.detail.get("seconds", 0.0) for e in events), sum(e.detail.get("cost_usd", 0.0) for e in events)

    def ai_tokens_left(self, user: UserRecord, now: datetime) -> int:
        """The month's AI tokens left; none past the daily cost cap."""
        if self.over_cost_cap(user, now) is not None:
            return 0
        used = self.store.usage(user.id, "month", period_keys(now, user.timezone)["month"])
        return max(0, self.limits(user).ai_tokens_per_month - used["ai_input_tokens"] - used["ai_output_tokens"])

    def costs(self, user: UserRecord, period: str, key: str) -> Costs:
        """What the user cost in their local day or month `key`."""
        used = self.store.usage(user.id, period, key)
        replies = self.store.replies_sent(user.id, *period_bounds(period, key, user.timezone))
        return Costs(
            used["ai_cost_micro_usd"] / 1_000_000,
            used["photos"] * self.settings.vision_cost_usd_per_photo,
            replies * self.settings.twilio_cost_usd_per_message,
        )

    def over_cost_cap(self, user: UserRecord, now: datetime) -> LimitHit | None:
        """A 'cost' hit when the user's cost today has reached their tier's daily cap."""
        cap = self.limits(user).daily_cost_cap_usd
        if self.costs(user, "day", period_keys(now, user.timezone)["day"]).total_usd < cap:
            return None
        return LimitHit("cost", "day", round(cap * 100), user.tier)

    def upgrade_options(self, user: UserRecord) -> list[tuple[str, TierLimits]]:
        """The tiers that give more photos a day than the user's, smallest first."""
        mine = self.limits(user).photos_per_day
        better = [(name, t) for name, t in self.settings.tiers.items() if t.photos_per_day > mine]
        return sorted(better, key=lambda pair: pair[1].photos_per_day)
