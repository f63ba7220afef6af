"""CloudWatch output with no client: the metrics as Embedded Metric Format JSON lines on stdout, bare (no log
prefix: the awslogs driver or CloudWatch agent must see the JSON object as the whole event), which CloudWatch Logs
turns into metrics in the `cloudwatch_namespace` (AINutritionist) namespace.

Counters go out as what they added since the last line (CloudWatch sums them), gauges as their value, a histogram
as its mean over the interval; one document per series, its labels as dimensions (CamelCase).
Format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
import logging
import sys
import time

from prometheus_client import CollectorRegistry

from bot.channel.periodic import PeriodicWorker
from bot.storage.protocols import off_loop

log = logging.getLogger(__name__)

# Prometheus family → (CloudWatch metric name, unit). What is not listed is not sent (CloudWatch bills per metric).
EMF_METRICS = {
    "bot_engagement_actions": ("UserEngagement", "Count"),
    "bot_photos_analysed": ("PhotosAnalysed", "Count"),
    "bot_replies_sent": ("RepliesSent", "Count"),
    "bot_model_server_errors": ("ModelServerErrors", "Count"),
    "bot_retries": ("Retries", "Count"),
    "bot_cost_alerts": ("CostAlerts", "Count"),
    "bot_webhook_seconds": ("WebhookLatency", "Seconds"),
    "bot_pending_messages": ("PendingMessages", "Count"),
    "bot_outbox_depth": ("OutboxDepth", "Count"),
    "bot_cost_usd": ("CostUSD", "None"),
    "bot_cost_per_person_usd": ("CostPerPersonUSD", "None"),
    "bot_revenue_usd_per_month": ("RevenueUSDPerMonth", "None"),
}


def _dimension(label: str) -> str:
    return "".join(part.capitalize() for part in label.split("_"))


class EmfWriter:
    """Turns a registry into EMF documents; keeps the counters' last values to send only what they added."""

    def __init__(self, registry: CollectorRegistry, namespace: str, metrics: dict[str, tuple[str, str]] = EMF_METRICS):
        self.registry = registry
        self.namespace = namespace
        self.metrics = metrics
        self._last: dict[tuple, float] = {}

    def documents(self, now_ms: int | None = None) -> list[dict]:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        docs = []
        for family in self.registry.collect():
            if family.name not in self.metrics:
                continue
            name, unit = self.metrics[family.name]
            for labels, value in self._values(family):
                dims = {_dimension(k): str(v) for k, v in sorted(labels.items())}
                docs.append(
                    {
                        "_aws": {
                            "Timestamp": now_ms,
                            "CloudWatchMetrics": [
                                {
                                    "Namespace": self.namespace,
                                    "Dimensions": [sorted(dims)],
                                    "Metrics": [{"Name": name, "Unit": unit}],
                                }
                            ],
                        },
                        **dims,
                        name: value,
                    }
                )
        return docs

    def _values(self, family) -> list[tuple[dict, float]]:
        """(labels, value to send) of each series of `family`; a counter or histogram that did not move: none."""
        if family.type == "gauge":
            return [(s.labels, float(s.value)) for s in family.samples]
        if family.type == "counter":
            found = []
            for s in family.samples:
                if s.name.endswith("_total"):
                    added = self._delta((s.name, tuple(sorted(s.labels.items()))), s.value)
                    if added > 0:
                        found.append((s.labels, added))
            return found
        if family.type == "histogram":
            sums = {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name.endswith("_sum")}
            found = []
            for s in family.samples:
                if s.name.endswith("_count"):
                    key = tuple(sorted(s.labels.items()))
                    count = self._delta((s.name, key), s.value)
                    total = self._delta((family.name + "_sum", key), sums.get(key, 0.0))
                    if count > 0:
                        found.append((s.labels, total / count))
            return found
        return []

    def _delta(self, key: tuple, value: float) -> float:
        before = self._last.get(key, 0.0)
        self._last[key] = value
        return value - before if value >= before else value  # a reset counter starts again from zero


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class EmfWorker(PeriodicWorker):
    """Writes the EMF lines every `cloudwatch_emf_interval_s` (off by default: `BOT_CLOUDWATCH_EMF`)."""

    name, what, left = "bot-emf", "EMF flush", "what it had not written is in the next flush"

    def __init__(self, writer: EmfWriter, poll_s: float, out=None):
        super().__init__(poll_s)
        self.writer = writer
        self.out = out or _stdout  # a callable taking one line

    async def run_once(self) -> int:
        docs = await off_loop(self.writer.documents)  # the store's gauges read the database
        for doc in docs:
            line = json.dumps(doc, separators=(",", ":"))
            self.out(line)
        return 0
