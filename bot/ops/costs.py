"""What each person cost us per service (AI, vision, messaging), per day and month, read from the usage ledger;
the unit economics per tier (cost vs the revenue of active subscriptions) and the `bot.admin costs` report.

A person's day and month are their local ones, as the ledger counts them; "today" is each person's own today.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.ledger import Ledger, period_bounds, period_keys
from bot.settings import BotSettings

SERVICES = ("ai", "vision", "messaging")
PAYING = ("active",)  # Stripe statuses that bring money in (trialing pays nothing yet; past_due is owed)


@dataclass(frozen=True)
class PersonCost:
    """One person's cost in one of their periods (`period` 'day' or 'month', `key` '2026-12-03' or '2026-12')."""

    user_id: int
    tier: str
    period: str
    key: str
    ai_usd: float
    vision_usd: float
    messaging_usd: float

    @property
    def total_usd(self) -> float:
        return self.ai_usd + self.vision_usd + self.messaging_usd

    def service(self, name: str) -> float:
        return getattr(self, f"{name}_usd")


def _cost(ledger: Ledger, user, period: str, key: str) -> PersonCost:
    c = ledger.costs(user, period, key)
    return PersonCost(user.id, user.tier, period, key, c.ai_usd, c.vision_usd, c.messaging_usd)


def _people(store, since_key: str) -> Iterable[tuple[object, list[str]]]:
    """Each person with day usage from `since_key` on, and those days."""
    days: dict[int, list[str]] = defaultdict(list)
    for user_id, day in store.day_usage_keys(since_key):
        days[user_id].append(day)
    for user_id, keys in days.items():
        try:
            user = store.get_user(user_id)
        except KeyError:  # deleted between the two reads
            continue
        yield user, keys


def day_costs(store, ledger: Ledger, day: str) -> list[PersonCost]:
    """Everyone's cost on their local day `day` (YYYY-MM-DD), most expensive first."""
    found = [_cost(ledger, user, "day", day) for user, keys in _people(store, day) if day in keys]
    return sorted(found, key=lambda c: (-c.total_usd, c.user_id))


def bulk_costs(store, settings: BotSettings, period: str, now: datetime) -> list[PersonCost] | None:
    """Everyone's cost in their current local `period` from a few bulk reads (`OpsStore.usage_rows`, and one
    `replies_sent_by_user` per timezone), priced as `Ledger.costs` prices them; None when the store lacks them."""
    if not (hasattr(store, "usage_rows") and hasattr(store, "replies_sent_by_user")):
        return None
    earlier = now - timedelta(days=1) if period == "day" else now.replace(day=1) - timedelta(days=1)
    since = period_keys(earlier, "UTC")[period]  # every timezone's current period is this one or later
    current: dict[int, tuple] = {}
    zones: dict[str, str] = {}
    for user_id, tier, timezone, key, photos, ai_micro in store.usage_rows(period, since):
        zones.setdefault(timezone, period_keys(now, timezone)[period])
        if key == zones[timezone]:
            current[user_id] = (tier, timezone, key, photos, ai_micro)
    replies: dict[int, int] = {}
    for timezone, key in zones.items():
        replies.update(store.replies_sent_by_user(*period_bounds(period, key, timezone), timezone))
    return [
        PersonCost(
            user_id,
            tier,
            period,
            key,
            ai_micro / 1_000_000,
            photos * settings.vision_cost_usd_per_photo,
            replies.get(user_id, 0) * settings.twilio_cost_usd_per_message,
        )
        for user_id, (tier, _, key, photos, ai_micro) in current.items()
    ]


def today_costs(store, ledger: Ledger, now: datetime) -> list[PersonCost]:
    """Everyone's cost on their own today (naive UTC `now`), most expensive first."""
    bulk = bulk_costs(store, ledger.settings, "day", now)
    if bulk is not None:
        return sorted(bulk, key=lambda c: (-c.total_usd, c.user_id))
    since = (now - timedelta(days=1)).strftime("%Y-%m-%d")  # every timezone's today is on or after it
    found = []
    for user, keys in _people(store, since):
        today = period_keys(now, user.timezone)["day"]
        if today in keys:
            found.append(_cost(ledger, user, "day", today))
    return sorted(found, key=lambda c: (-c.total_usd, c.user_id))


def month_costs(store, ledger: Ledger, now: datetime) -> list[PersonCost]:
    """Everyone active this month (their local month) and what they cost in it so far."""
    bulk = bulk_costs(store, ledger.settings, "month", now)
    if bulk is not None:
        return bulk
    since = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m-%d")
    found = []
    for user, keys in _people(store, since):
        month = period_keys(now, user.timezone)["month"]
        if any(key.startswith(month) for key in keys):
            found.append(_cost(ledger, user, "month", month))
    return found


@dataclass(frozen=True)
class TierEconomics:
    """One tier this period: people active, what they cost per service, and what its subscriptions bring in."""

    tier: str
    active: int
    cost_usd: dict[str, float]
    paying: int
    revenue_usd_per_month: float | None  # None: no price configured for the tier

    @property
    def total_cost_usd(self) -> float:
        return sum(self.cost_usd.values())

    @property
    def cost_per_person_usd(self) -> float:
        return self.total_cost_usd / self.active if self.active else 0.0


def by_tier(
    costs: Iterable[PersonCost], settings: BotSettings, subscriptions: dict[tuple[str, str], int] | None = None
) -> dict[str, TierEconomics]:
    """Costs summed per tier (each person under their tier now), with each tier's monthly revenue from
    `subscriptions` ({(tier, Stripe status): count}) at `tier_prices_usd_per_month`."""
    active: dict[str, int] = defaultdict(int)
    cost: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(SERVICES, 0.0))
    for c in costs:
        active[c.tier] += 1
        for name in SERVICES:
            cost[c.tier][name] += c.service(name)
    paying: dict[str, int] = defaultdict(int)
    for (tier, status), count in (subscriptions or {}).items():
        if status in PAYING:
            paying[tier] += count
    prices = settings.tier_prices_usd_per_month
    result = {}
    for tier in sorted(set(settings.tiers) | set(active) | set(paying)):
        price = prices.get(tier)
        revenue = None if price is None else price * paying[tier]
        result[tier] = TierEconomics(tier, active[tier], dict(cost[tier]), paying[tier], revenue)
    return result


def _usd(value: float) -> str:
    return f"${value:,.4f}"


def report(costs: list[PersonCost], settings: BotSettings, day: str) -> list[str]:
    """The `bot.admin costs` report of one day: totals per service and tier, then each person (id only)."""
    total = sum(c.total_usd for c in costs)
    per_service = {name: sum(c.service(name) for c in costs) for name in SERVICES}
    lines = [
        f"costs on {day}: {_usd(total)} for {len(costs)} people  "
        + "  ".join(f"{name} {_usd(per_service[name])}" for name in SERVICES)
    ]
    day_limit = settings.cost_alert_day_usd
    if day_limit:
        lines.append(f"daily alert at {_usd(day_limit)}: {'PASSED' if total > day_limit else 'not passed'}")
    for tier, row in by_tier(costs, settings).items():
        if row.active:
            lines.append(
                f"  tier {tier}: {row.active} people, {_usd(row.total_cost_usd)} "
                f"({_usd(row.cost_per_person_usd)} a person)"
            )
    limit = settings.cost_alert_person_usd
    for c in costs:
        flag = "  over the alert" if limit and c.total_usd > limit else ""
        lines.append(
            f"  user {c.user_id}  {c.tier}  ai {_usd(c.ai_usd)}  vision {_usd(c.vision_usd)}  "
            f"messaging {_usd(c.messaging_usd)}  total {_usd(c.total_usd)}{flag}"
        )
    return lines
