"""Gauges read from the store at scrape time, where the store is the truth: queue depths, people and subscriptions
per tier, today's and this month's cost per tier and service, cost per person and revenue (unit economics).

Shared by every bot replica (each reports the same database), so sum them with `max`, not `sum`, across
instances. Recomputed at most every `metrics_store_cache_s`: the cost gauges read each active person's ledger.
"""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.ledger import Ledger
from bot.ops.costs import SERVICES, by_tier, month_costs, today_costs
from bot.settings import BotSettings
from bot.storage.records import PENDING, utcnow
from bot.storage.sql.outbox import GAVE_UP, QUEUED, SENDING

log = logging.getLogger(__name__)
OUTBOX_STATUSES = (QUEUED, SENDING, GAVE_UP)


class StoreGauges(Collector):
    def __init__(self, store, settings: BotSettings, clock=time.monotonic):
        self.store = store
        self.settings = settings
        self.ledger = Ledger(store, settings)
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list] | None = None
        self._warned: set[str] = set()

    def describe(self):
        return []  # read at scrape time only: registering must not query the store

    def collect(self):
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.settings.metrics_store_cache_s:
                self._cached = (now, self._families())
            return list(self._cached[1])

    def _families(self) -> list:
        up = GaugeMetricFamily("bot_store_up", "1 when the last scrape could read the store, else 0")
        try:
            families = self._read()
        except Exception:  # the database is down: say so, and keep /metrics answering
            log.exception("metrics: the store could not be read")
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _optional(self, method: str):
        """An `OpsStore` method, or None (with one warning) for an adapter that lacks it."""
        fn = getattr(self.store, method, None)
        if fn is None and method not in self._warned:
            self._warned.add(method)
            log.warning("metrics: the store has no %s(); its series are left out", method)
        return fn

    def _read(self) -> list:
        families = []
        pending = GaugeMetricFamily("bot_pending_messages", "Inbound messages waiting for a retry (pending)")
        pending.add_metric([], self.store.count_messages(PENDING))
        families.append(pending)
        count_outbound = self._optional("count_outbound")
        if count_outbound is not None:
            outbox = GaugeMetricFamily(
                "bot_outbox_depth", "Outbox rows by status (queued, sending; failed: dead letters)", labels=["status"]
            )
            for status in OUTBOX_STATUSES:
                outbox.add_metric([status], count_outbound(status))
            families.append(outbox)
        people_by_tier = self._optional("people_by_tier")
        if people_by_tier is not None:
            people = GaugeMetricFamily("bot_people", "People per tier (what they are entitled to now)", labels=["tier"])
            for tier, count in sorted(people_by_tier().items()):
                people.add_metric([tier], count)
            families.append(people)
        subscriptions_by_status = self._optional("subscriptions_by_status")
        subscriptions = subscriptions_by_status() if subscriptions_by_status is not None else {}
        subs = GaugeMetricFamily(
            "bot_subscriptions", "Subscriptions per tier and Stripe status", labels=["tier", "status"]
        )
        for (tier, status), count in sorted(subscriptions.items()):
            subs.add_metric([tier, status], count)
        families.append(subs)
        families.extend(self._economics(subscriptions))
        return families

    def _economics(self, subscriptions: dict) -> list:
        now = utcnow()
        active = GaugeMetricFamily(
            "bot_active_people", "People with usage in the period (their local day or month)", labels=["tier", "period"]
        )
        cost = GaugeMetricFamily(
            "bot_cost_usd",
            "What people cost us in the period so far, per service",
            labels=["tier", "service", "period"],
        )
        per_person = GaugeMetricFamily(
            "bot_cost_per_person_usd", "Mean cost of an active person in the period so far", labels=["tier", "period"]
        )
        revenue = GaugeMetricFamily(
            "bot_revenue_usd_per_month",
            "What the tier's active subscriptions bring in a month (tier_prices_usd_per_month)",
            labels=["tier"],
        )
        paying = GaugeMetricFamily("bot_paying_people", "Active (paying) subscriptions per tier", labels=["tier"])
        for period, costs in (
            ("day", today_costs(self.store, self.ledger, now)),
            ("month", month_costs(self.store, self.ledger, now)),
        ):
            for tier, row in by_tier(costs, self.settings, subscriptions).items():
                active.add_metric([tier, period], row.active)
                per_person.add_metric([tier, period], row.cost_per_person_usd)
                for service in SERVICES:
                    cost.add_metric([tier, service, period], row.cost_usd[service])
                if period == "month":
                    paying.add_metric([tier], row.paying)
                    if row.revenue_usd_per_month is not None:
                        revenue.add_metric([tier], row.revenue_usd_per_month)
        return [active, cost, per_person, paying, revenue]
