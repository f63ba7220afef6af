"""Cost alerts: when one person's cost today passes `cost_alert_person_usd`, or everyone's together passes
`cost_alert_day_usd`, raise it once for that person (or day): a `cost_alert` event, a log line, and optionally a
WhatsApp message to an admin (through the outbox: retried, sent once) and an SNS publish.

Once per person and day is an atomic ledger counter (the `alert` period of the person's usage, so two replicas
checking at once raise it once); the whole day's alert is found in the event log (the newest check wins a race).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.channel.periodic import PeriodicWorker
from bot.ledger import Ledger
from bot.ops.costs import SERVICES, PersonCost, today_costs
from bot.settings import BotSettings
from bot.storage.protocols import off_loop
from bot.storage.records import Bucket, OutboundRecord, utcnow

log = logging.getLogger(__name__)
ALERT_PERIOD = "alert"  # a usage bucket of its own: its `limit_notices` counter is the once-a-day flag
ALERT_KIND = "cost_alert"


@dataclass(frozen=True)
class CostAlert:
    scope: str  # "person" or "day"
    day: str
    cost_usd: float
    threshold_usd: float
    services: dict[str, float]
    user_id: int | None = None
    tier: str | None = None

    @property
    def key(self) -> str:
        """The alert's outbox id: one message per person (or day) and day."""
        return f"cost-alert-{self.day}-" + (f"u{self.user_id}" if self.scope == "person" else "all")

    def text(self) -> str:
        who = f"user {self.user_id} ({self.tier})" if self.scope == "person" else "everyone together"
        parts = ", ".join(f"{name} ${usd:.4f}" for name, usd in self.services.items())
        return f"Cost alert {self.day}: {who} cost ${self.cost_usd:.4f}, over ${self.threshold_usd:.2f} ({parts})."

    def detail(self) -> dict:
        return {
            "scope": self.scope,
            "day": self.day,
            "cost_usd": round(self.cost_usd, 6),
            "threshold_usd": self.threshold_usd,
            "services": {k: round(v, 6) for k, v in self.services.items()},
            **({"tier": self.tier} if self.tier else {}),
        }


class CostAlerts:
    """Checks today's costs and raises what is due (blocking: call `check` off the loop)."""

    def __init__(self, store, settings: BotSettings, sns: Callable[[], object] | None = None):
        self.store = store
        self.settings = settings
        self.ledger = Ledger(store, settings)
        self._sns_factory = sns
        self._sns = None

    def check(self, now: datetime) -> tuple[list[CostAlert], list[OutboundRecord]]:
        """Raise the alerts due now; the alerts raised and the admin messages queued (to deliver)."""
        costs = today_costs(self.store, self.ledger, now)
        due: list[tuple[CostAlert, Callable[[], bool]]] = []
        limit = self.settings.cost_alert_person_usd
        for cost in costs:
            if limit and cost.total_usd > limit:
                due.append((_alert("person", cost.key, [cost], limit, cost), lambda c=cost: self._first_for_person(c)))
        day_limit = self.settings.cost_alert_day_usd
        day = now.strftime("%Y-%m-%d")  # the UTC day: everyone whose own today it is
        todays = [c for c in costs if c.key == day]
        if day_limit and sum(c.total_usd for c in todays) > day_limit:
            due.append((_alert("day", day, todays, day_limit), lambda: self._first_for_day(day)))
        raised, rows = [], []
        for alert, first in due:
            queued = self._raise(alert, now, first)
            if queued is not None:
                raised.append(alert)
                rows.extend(queued)
        return raised, rows

    def _first_for_person(self, cost: PersonCost) -> bool:
        flag = Bucket(ALERT_PERIOD, cost.key, 1)
        return self.store.consume(cost.user_id, [flag], "limit_notices", 1) is None

    def _first_for_day(self, day: str) -> bool:
        since = datetime.fromisoformat(day) - timedelta(days=1)
        seen = self.store.events_of_kind((ALERT_KIND,), since)
        return not any(e.detail.get("scope") == "day" and e.detail.get("day") == day for e in seen)

    def _raise(self, alert: CostAlert, now: datetime, first: Callable[[], bool]) -> list[OutboundRecord] | None:
        """The flag, the event and the admin message in one transaction; None when it was raised before."""
        rows = []
        with self.store.unit_of_work():
            if not first():
                return None
            self.store.add_event(ALERT_KIND, now, None, alert.user_id, detail=alert.detail())
            admin = self.settings.cost_alert_whatsapp_to
            sender = self.settings.cost_alert_from or self.settings.twilio_from
            if admin and sender:
                lease = now + timedelta(seconds=self.settings.lease_s)
                row = self.store.enqueue_outbound(alert.key, ALERT_KIND, admin, sender, alert.text(), now, lease)
                if row is not None:
                    rows.append(row)
            elif admin:
                log.error("cost alert not sent to %s: set BOT_COST_ALERT_FROM or BOT_TWILIO_FROM", admin)
        log.warning("%s", alert.text())
        self._publish(alert)
        return rows

    def _publish(self, alert: CostAlert) -> None:
        topic = self.settings.cost_alert_sns_topic_arn
        if not topic:
            return
        try:
            self._client().publish(
                TopicArn=topic,
                Subject=f"plate-coach cost alert {alert.day}"[:100],
                Message=json.dumps({"text": alert.text(), **alert.detail(), "user_id": alert.user_id}),
            )
        except Exception:  # the event and the log line are the record; SNS is a courtesy
            log.exception("cost alert not published to SNS %s", topic)

    def _client(self):
        if self._sns is None:
            if self._sns_factory is not None:
                self._sns = self._sns_factory()
            else:
                import boto3

                self._sns = boto3.client("sns", region_name=self.settings.aws_region)
        return self._sns


def _alert(scope: str, day: str, costs: list[PersonCost], threshold: float, one: PersonCost | None = None) -> CostAlert:
    services = {name: sum(c.service(name) for c in costs) for name in SERVICES}
    return CostAlert(
        scope,
        day,
        sum(services.values()),
        threshold,
        services,
        user_id=one.user_id if one else None,
        tier=one.tier if one else None,
    )


class CostWatch(PeriodicWorker):
    """Runs `CostAlerts.check` every `cost_check_s`, then delivers the admin messages it queued."""

    name, what, left = "bot-cost-watch", "cost check", "it runs again at the next check"

    def __init__(self, alerts: CostAlerts, delivery, poll_s: float, counted: Callable[[CostAlert], None] | None = None):
        super().__init__(poll_s)
        self.alerts = alerts
        self.delivery = delivery
        self.counted = counted

    async def run_once(self) -> int:
        raised, rows = await off_loop(self.alerts.check, utcnow())
        for alert in raised:
            if self.counted is not None:
                self.counted(alert)
        if rows:
            await self.delivery.deliver(rows)
        return 0
