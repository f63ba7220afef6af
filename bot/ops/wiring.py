"""What the app starts for operations (`Operations`), and `GET /metrics`.

The app makes one `Operations` per app with its store (its events are then counted), wraps the model server
client with `metered`, and `start`s the cost watch and the EMF writer with its delivery."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.ops.alerts import CostAlerts, CostWatch
from bot.ops.emf import EmfWorker, EmfWriter
from bot.ops.gauges import StoreGauges
from bot.ops.metrics import BotMetrics, CachedLabels, EventTap, MeteredAnalysis
from bot.settings import BotSettings
from bot.storage.protocols import off_loop

router = APIRouter()


class Operations:
    def __init__(self, settings: BotSettings, store, sns=None):
        self.settings = settings
        self.store = store
        self.metrics = BotMetrics()
        EventTap(self.metrics, CachedLabels(store, settings.metrics_label_ttl_s)).install(store)
        self.metrics.registry.register(StoreGauges(store, settings))
        self.alerts = CostAlerts(store, settings, sns)
        self._workers: list = []

    def metered(self, analysis) -> MeteredAnalysis:
        return MeteredAnalysis(analysis, self.metrics)

    def start(self, delivery) -> None:
        """Start the cost watch (every `cost_check_s`, unless 0) and the EMF lines (if `cloudwatch_emf`)."""
        s = self.settings
        if s.cost_check_s > 0 and (s.cost_alert_person_usd or s.cost_alert_day_usd):
            counted = lambda alert: self.metrics.cost_alerts.labels(alert.scope).inc()  # noqa: E731
            self._workers.append(CostWatch(self.alerts, delivery, s.cost_check_s, counted))
        if s.cloudwatch_emf:
            writer = EmfWriter(self.metrics.registry, s.cloudwatch_namespace)
            self._workers.append(EmfWorker(writer, s.cloudwatch_emf_interval_s))
        for worker in self._workers:
            worker.start()

    async def stop(self) -> None:
        for worker in self._workers:
            await worker.stop()

    def exposition(self) -> bytes:
        return generate_latest(self.metrics.registry)


def _authorised(settings: BotSettings, request: Request) -> bool:
    token = settings.metrics_token.get_secret_value()
    if not token:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's registry (the store's gauges read off the event loop)."""
    ops: Operations | None = getattr(request.app.state, "ops", None)
    if ops is None:
        return Response("starting\n", status_code=503, media_type="text/plain")
    if not _authorised(ops.settings, request):
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return Response(await off_loop(ops.exposition), media_type=CONTENT_TYPE_LATEST)
