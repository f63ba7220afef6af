"""Usage ledger and limits: messages, photos, AI tokens and cost per user per hour/day/month, by tier.

Counting and checking are one atomic store call over every period (`UsageStore.consume`: all or nothing), so
fifty photos arriving at once cannot slip past a limit of three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.settings import BotSettings, TierLimits
from bot.storage.protocols import UsageStore
from bot.storage.records import Bucket, UserRecord


@dataclass(frozen=True)
class LimitHit:
    """Why something was refused: `what` ('rate', 'messages', 'photos') over `limit` per `period`."""

    what: str
    period: str
    limit: int
    tier: str
    remaining: int = 0


def period_keys(now_utc: datetime, timezone: str) -> dict[str, str]:
    """The user's local hour, day and month that `now_utc` (naive UTC) falls in."""
    local = now_utc.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone))
    return {"hour": local.strftime("%Y-%m-%dT%H"), "day": local.strftime("%Y-%m-%d"), "month": local.strftime("%Y-%m")}


class Ledger:
    def __init__(self, store: UsageStore, settings: BotSettings):
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
        """Count `count` photos against the day and month allowances, all of them or none."""
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

    def first_notice(self, user: UserRecord, now: datetime) -> bool:
        """True once per hour per user: limit replies cost money too, so the rest are silent."""
        bucket = self._buckets(user, now, {"hour": 1})
        return self.store.consume(user.id, bucket, "limit_notices", 1) is None

    def record_ai_usage(
        self, user: UserRecord, input_tokens: int, output_tokens: int, cost_usd: float, now: datetime
    ) -> None:
        """Add an LLM call's tokens and cost to the user's day and month (the coach calls this)."""
        amounts = {
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

    def ai_tokens_left(self, user: UserRecord, now: datetime) -> int:
        used = self.store.usage(user.id, "month", period_keys(now, user.timezone)["month"])
        return max(0, self.limits(user).ai_tokens_per_month - used["ai_input_tokens"] - used["ai_output_tokens"])

    def upgrade_options(self, user: UserRecord) -> list[tuple[str, TierLimits]]:
        """The tiers that give more photos a day than the user's, smallest first."""
        mine = self.limits(user).photos_per_day
        better = [(name, t) for name, t in self.settings.tiers.items() if t.photos_per_day > mine]
        return sorted(better, key=lambda pair: pair[1].photos_per_day)
