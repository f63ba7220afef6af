"""`GET /metrics` on the real bot (uvicorn, the model server and Twilio stand-ins) after webhook traffic: every
series the operations issue lists, the values checked against the store, the optional token; events counted only
when their unit of work commits; and the dashboard and alert files name only metrics the bot exports."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bot.ledger import Ledger, period_keys
from bot.ops.metrics import BotMetrics, EventTap
from bot.storage.protocols import SubscriptionRecord
from bot.storage.records import utcnow
from bot.storage.sql.store import SqlStore

REPO = Path(__file__).resolve().parents[2]
PRICES = {"free": 0.0, "standard": 9.99, "premium": 29.99}
BOB = "+15550002"


def scrape(bot, headers: dict | None = None) -> dict:
    response = httpx.get(bot.server.url + "/metrics", headers=headers or {}, timeout=10, trust_env=False)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families: dict, family: str, sample: str | None = None, **labels) -> float:
    """The value of the one sample of `family` (named `sample`, default the family's) with these labels."""
    found = [
        s.value
        for s in families[family].samples
        if s.name == (sample or family) and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, f"{sample or family}{labels}: {len(found)} samples in {families[family].samples}"
    return found[0]


@pytest.fixture
def busy_bot(make_bot, model_server):
    """A bot after: a text, a photo analysed, a duplicate webhook, a photo the model server fails on (retried
    later), a forged webhook; and a second person with an active standard subscription."""
    bot = make_bot(tier_prices_usd_per_month=PRICES, metrics_store_cache_s=0, retry_base_s=600, retry_max_s=600)
    assert bot.send("hello")
    assert bot.send_photo()
    form = bot.form("what can you do?")
    assert bot.post(form).status_code == 200
    assert bot.post(form).status_code == 200  # Twilio's retry of the same MessageSid
    model_server.standin.fail_status = 503
    assert bot.send_photo()  # "the analysis is unavailable, I'll retry": the message stays pending
    forged = httpx.post(
        bot.webhook,
        content=b"Body=hi",
        headers={"X-Twilio-Signature": "forged", "Content-Type": "application/x-www-form-urlencoded"},
        trust_env=False,
    )
    assert forged.status_code == 403
    bob = bot.store.get_or_create_user(BOB, "standard", "UTC")
    bot.store.save_subscription(SubscriptionRecord(bob.id, "standard", "active"), utcnow())
    return bot


def test_metrics_expose_every_listed_series(busy_bot):
    bot, f = busy_bot, scrape(busy_bot)

    # webhook latency histogram by outcome
    count = lambda outcome: value(f, "bot_webhook_seconds", "bot_webhook_seconds_count", outcome=outcome)  # noqa: E731
    assert count("replied") >= 3 and count("duplicate") == 1 and count("refused_signature") == 1
    assert value(f, "bot_webhook_seconds", "bot_webhook_seconds_bucket", outcome="refused_signature", le="+Inf") == 1
    assert value(f, "bot_messages_received", "bot_messages_received_total", kind="duplicate") == 1
    # photos analysed, model-server errors and retries
    assert value(f, "bot_photos_analysed", "bot_photos_analysed_total") == 1
    assert value(f, "bot_model_server_requests", "bot_model_server_requests_total", outcome="ok") == 1
    assert value(f, "bot_model_server_requests", "bot_model_server_requests_total", outcome="server_error") >= 1
    assert value(f, "bot_model_server_errors", "bot_model_server_errors_total", kind="server_error") >= 1
    assert value(f, "bot_retries", "bot_retries_total", what="analysis") >= 1
    assert value(f, "bot_model_server_seconds", "bot_model_server_seconds_count") >= 2
    # replies sent: one per answered webhook (the duplicate is answered from the first reply, not counted again)
    assert value(f, "bot_replies_sent", "bot_replies_sent_total", via="twiml") >= 3
    # queue depth, from the store
    assert value(f, "bot_pending_messages") == bot.store.count_messages("pending") == 1
    assert value(f, "bot_outbox_depth", status="queued") == bot.store.count_outbound("queued")
    assert value(f, "bot_outbox_depth", status="failed") == 0
    # engagement by tier and personalization stage (a first-day person: foundation)
    photo = value(f, "bot_engagement_actions", "bot_engagement_actions_total", action="photo", tier="free")
    assert photo == 1
    engaged = [s for s in f["bot_engagement_actions"].samples if s.name.endswith("_total")]
    assert {s.labels["stage"] for s in engaged} == {"foundation"}
    assert any(s.labels["action"].startswith(("text:", "command:")) for s in engaged)
    # cost per person and unit economics, equal to what the ledger says
    alice = bot.store.user_by_phone(bot.sender)
    today = Ledger(bot.store, bot.settings).costs(alice, "day", period_keys(utcnow(), alice.timezone)["day"])
    assert today.vision_usd > 0 and today.messaging_usd > 0
    for service, expected in (("ai", today.ai_usd), ("vision", today.vision_usd), ("messaging", today.messaging_usd)):
        assert value(f, "bot_cost_usd", tier="free", service=service, period="day") == pytest.approx(expected)
    assert value(f, "bot_cost_per_person_usd", tier="free", period="day") == pytest.approx(today.total_usd)
    assert value(f, "bot_active_people", tier="free", period="day") == 1
    assert value(f, "bot_people", tier="free") == 1 and value(f, "bot_people", tier="standard") == 1
    assert value(f, "bot_subscriptions", tier="standard", status="active") == 1
    assert value(f, "bot_paying_people", tier="standard") == 1
    assert value(f, "bot_revenue_usd_per_month", tier="standard") == pytest.approx(9.99)
    assert value(f, "bot_revenue_usd_per_month", tier="premium") == 0
    assert value(f, "bot_store_up") == 1


def test_the_metrics_token(make_bot):
    bot = make_bot(metrics_token="scrape-secret")
    url = bot.server.url + "/metrics"
    assert httpx.get(url, trust_env=False).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}, trust_env=False).status_code == 401
    assert "bot_store_up" in scrape(bot, {"Authorization": "Bearer scrape-secret"})


def test_events_count_only_when_their_unit_of_work_commits(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'tap.db'}")
    store.create_schema()
    metrics = BotMetrics()
    EventTap(metrics, lambda user_id: ("free", "foundation")).install(store)
    sent = lambda: metrics.registry.get_sample_value("bot_replies_sent_total", {"via": "rest"}) or 0  # noqa: E731
    with pytest.raises(RuntimeError), store.unit_of_work():
        store.add_event("replied", utcnow(), "SM1", None, detail={"via": "rest"})
        raise RuntimeError("rolled back")
    assert sent() == 0 and store.events("SM1") == []
    with store.unit_of_work(), store.unit_of_work():  # nested units join the outer one
        store.add_event("replied", utcnow(), "SM2", None, detail={"via": "rest"})
        assert sent() == 0  # not before the commit
    assert sent() == 1
    store.add_event("replied", utcnow() + timedelta(seconds=1), "SM3", None, detail={"via": "rest"})  # no unit
    assert sent() == 2 and len(store.events("SM2")) == 1
    store.dispose()


# --- the dashboard and the alert rules name only what we export
_NOT_METRICS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "clamp_min", "by",
    "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "le", "e",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression: identifiers outside label matchers, ranges and strings, that are
    not functions, keywords or aggregation labels."""
    bare = re.sub(r'"[^"]*"', "", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    names = set(re.findall(r"(?<![\w.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", bare))
    return {n for n in names if n not in _NOT_METRICS and not re.fullmatch(r"\d+(e-?\d+)?", n)}


def exported_names(families: dict) -> set[str]:
    names = set()
    for family in families.values():
        names.add(family.name)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ())
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_dashboard_and_alert_rules_use_only_exported_metrics(busy_bot):
    exported = exported_names(scrape(busy_bot))
    dashboard = json.loads((REPO / "ops/grafana/bot.json").read_text())
    panel_exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rules = yaml.safe_load((REPO / "ops/prometheus/alerts.yml").read_text())
    rule_exprs = {r["alert"]: r["expr"] for group in rules["groups"] for r in group["rules"]}
    assert len(panel_exprs) >= 15 and {"BotWebhookSlow", "BotModelServerErrors", "BotPendingBacklog"} <= set(rule_exprs)
    assert "BotDailyCostHigh" in rule_exprs
    used = set()
    for expr in [*panel_exprs, *rule_exprs.values()]:
        names = metric_names(expr)
        assert names, f"no metric found in {expr!r}"
        assert names <= exported, f"{expr!r} names {sorted(names - exported)}, which the bot does not export"
        used |= names
    # the panels cover the whole list of the issue
    for needed in (
        "bot_webhook_seconds_bucket",
        "bot_photos_analysed_total",
        "bot_model_server_errors_total",
        "bot_retries_total",
        "bot_replies_sent_total",
        "bot_pending_messages",
        "bot_outbox_depth",
        "bot_engagement_actions_total",
        "bot_cost_per_person_usd",
        "bot_revenue_usd_per_month",
    ):
        assert needed in used, needed


def test_metric_names_parser_finds_names_and_skips_functions():
    expr = 'histogram_quantile(0.95, sum by (le, outcome) (rate(bot_webhook_seconds_bucket{outcome=~"a|b"}[5m]))) > 8'
    assert metric_names(expr) == {"bot_webhook_seconds_bucket"}
    assert metric_names("sum(rate(a_total[5m])) / clamp_min(sum(rate(b_total[5m])), 1e-9)") == {"a_total", "b_total"}
