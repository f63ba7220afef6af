"""The bot's Prometheus instruments, on a registry of its own per app (several apps in one test process must not
share counters), and what feeds them: the event trace (`EventTap`) and the model server client (`MeteredAnalysis`).

Counting from the events, not from each wing, means one hook sees every reply, retry and engagement action the
bot already records, and a unit of work that rolls back counts nothing (its events are counted on commit).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from cachetools import TTLCache
from prometheus_client import CollectorRegistry, Counter, Histogram

from bot.photos.analysis_client import Analysis, AnalysisUnavailable, PhotoRejected

log = logging.getLogger(__name__)

# Twilio gives up at 15 s; the reply budget is 10 s by default: buckets around both.
WEBHOOK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 12.5, 15.0, 20.0)
MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0)


class BotMetrics:
    """Every counter and histogram of one bot app; the store's gauges are added by `bot.ops.gauges`."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.webhook_seconds = Histogram(
            "bot_webhook_seconds",
            "Time to answer a Twilio webhook, by outcome (replied, acknowledged, silent, duplicate, refused_*, error)",
            ["outcome"],
            buckets=WEBHOOK_BUCKETS,
            registry=r,
        )
        self.messages_received = Counter(
            "bot_messages_received", "Inbound messages, by kind (text, media, duplicate)", ["kind"], registry=r
        )
        self.photos_analysed = Counter("bot_photos_analysed", "Photos the model server analysed", registry=r)
        self.photos_rejected = Counter("bot_photos_rejected", "Photos refused (not an image, too large...)", registry=r)
        self.model_requests = Counter(
            "bot_model_server_requests",
            "Calls to the model server's /analyze, by outcome (ok, rejected, or the error kind)",
            ["outcome"],
            registry=r,
        )
        self.model_errors = Counter(
            "bot_model_server_errors",
            "Model server calls that failed and will be retried, by kind "
            "(timeout, unreachable, server_error, busy, auth, contract)",
            ["kind"],
            registry=r,
        )
        self.model_seconds = Histogram(
            "bot_model_server_seconds", "Time of one /analyze call", buckets=MODEL_BUCKETS, registry=r
        )
        self.retries = Counter(
            "bot_retries", "Work scheduled for another try, by what (analysis, reply)", ["what"], registry=r
        )
        self.gave_up = Counter(
            "bot_gave_up", "Work given up on after its last try (message, reply)", ["what"], registry=r
        )
        self.replies_sent = Counter(
            "bot_replies_sent", "Replies delivered, by how (twiml: in the webhook answer, rest)", ["via"], registry=r
        )
        self.limited = Counter("bot_limited", "Messages refused by a tier limit, by which", ["what"], registry=r)
        self.engagement = Counter(
            "bot_engagement_actions",
            "What people do (photo, text:<intent>, command:<name>, answer, link_click), by tier and personalization "
            "stage: the seed's AINutritionist/UserEngagement",
            ["action", "tier", "stage"],
            registry=r,
        )
        self.cost_alerts = Counter(
            "bot_cost_alerts", "Cost alerts raised, by scope (person, day)", ["scope"], registry=r
        )

    @contextmanager
    def webhook(self) -> Iterator[dict]:
        """Time one webhook: the caller sets `outcome` in the dict it gets ("error" if it raises)."""
        started, state = time.perf_counter(), {"outcome": "error"}
        try:
            yield state
        finally:
            self.webhook_seconds.labels(state["outcome"]).observe(time.perf_counter() - started)


Labeller = Callable[[int], tuple[str, str]]
_PENDING: ContextVar[list | None] = ContextVar("bot_ops_pending_events", default=None)
_ENGAGING_TEXT = "text"


class EventTap:
    """Counts what `store.add_event` records. Installed on the store instance (`tap.install(store)`), whatever its
    adapter: events added inside `unit_of_work()` are counted only when the unit commits."""

    def __init__(self, metrics: BotMetrics, labeller: Labeller):
        self.metrics = metrics
        self.labeller = labeller

    def install(self, store) -> None:
        add_event, unit_of_work = store.add_event, store.unit_of_work

        def tapped_add_event(kind, now, message_sid=None, user_id=None, meal_id=None, detail=None):
            add_event(kind, now, message_sid, user_id, meal_id, detail)
            pending = _PENDING.get()
            if pending is None:
                self.count(kind, user_id, detail or {})
            else:
                pending.append((kind, user_id, detail or {}))

        @contextmanager
        def tapped_unit_of_work():
            if _PENDING.get() is not None:  # nested: joins the outer unit, which counts on its commit
                with unit_of_work():
                    yield
                return
            pending: list = []
            token = _PENDING.set(pending)
            try:
                with unit_of_work():
                    yield
            finally:
                _PENDING.reset(token)
            for kind, user_id, detail in pending:  # reached only when the unit committed
                self.count(kind, user_id, detail)

        store.add_event, store.unit_of_work = tapped_add_event, tapped_unit_of_work

    def count(self, kind: str, user_id: int | None, detail: dict) -> None:
        try:
            self._count(kind, user_id, detail)
        except Exception:  # a metric must never break the work it describes
            log.exception("counting a %s event failed", kind)

    def _count(self, kind: str, user_id: int | None, detail: dict) -> None:
        m = self.metrics
        if kind == "received":
            m.messages_received.labels("media" if detail.get("media") else "text").inc()
        elif kind == "duplicate":
            m.messages_received.labels("duplicate").inc()
        elif kind == "analysed":
            m.photos_analysed.inc(max(1, len(detail.get("models") or {})))
            self._engaged("photo", user_id)
        elif kind == "rejected" and "photo" in detail:
            m.photos_rejected.inc()
        elif kind == "analysis_failed":
            m.retries.labels("analysis").inc()
        elif kind == "gave_up":
            m.gave_up.labels("message").inc()
        elif kind == "replied":
            m.replies_sent.labels(detail.get("via", "unknown")).inc()
        elif kind == "reply_failed":
            (m.gave_up if detail.get("final") else m.retries).labels("reply").inc()
        elif kind == "limited":
            m.limited.labels(detail.get("what", "unknown")).inc()
        elif kind == _ENGAGING_TEXT:
            self._engaged(f"text:{detail.get('intent') or 'other'}", user_id)
        elif kind == "command":
            self._engaged(f"command:{detail.get('command', 'other')}", user_id)
        elif kind == "question_answered":
            self._engaged("answer", user_id)
        elif kind == "link_click":
            self._engaged("link_click", user_id)

    def _engaged(self, action: str, user_id: int | None) -> None:
        tier, stage = self.labeller(user_id) if user_id is not None else ("unknown", "unknown")
        self.metrics.engagement.labels(action, tier, stage).inc()


class CachedLabels:
    """A person's (tier, personalization stage) for engagement labels, read from the store and kept `ttl_s`:
    the stage costs a week of usage reads."""

    def __init__(self, store, ttl_s: float, maxsize: int = 10_000):
        from bot.personal.questions import Questions  # the personal wing: only when labels are read

        self.store = store
        self.questions = Questions(store)
        self._cache: TTLCache = TTLCache(maxsize, ttl_s) if ttl_s > 0 else None
        self._lock = threading.Lock()

    def __call__(self, user_id: int) -> tuple[str, str]:
        if self._cache is not None:
            with self._lock:
                if user_id in self._cache:
                    return self._cache[user_id]
        from bot.storage.records import utcnow

        try:
            user = self.store.get_user(user_id)
            labels = (user.tier, self.questions.stage(user, utcnow()))
        except Exception:  # deleted meanwhile, or the store is down: still count the action
            log.debug("no labels for user %s", user_id, exc_info=True)
            return ("unknown", "unknown")
        if self._cache is not None:
            with self._lock:
                self._cache[user_id] = labels
        return labels


class MeteredAnalysis:
    """The model server client with each call counted and timed (`bot_model_server_*`)."""

    def __init__(self, client, metrics: BotMetrics):
        self.client = client
        self.metrics = metrics

    async def analyze(self, image: bytes, content_type: str) -> Analysis:
        started = time.perf_counter()
        outcome = "error"  # anything unexpected (a bug): counted, and raised as it was
        try:
            analysis = await self.client.analyze(image, content_type)
            outcome = "ok"
            return analysis
        except AnalysisUnavailable as exc:
            outcome = exc.kind
            self.metrics.model_errors.labels(exc.kind).inc()
            raise
        except PhotoRejected:
            outcome = "rejected"
            raise
        finally:
            self.metrics.model_requests.labels(outcome).inc()
            self.metrics.model_seconds.observe(time.perf_counter() - started)

    async def aclose(self) -> None:
        await self.client.aclose()
