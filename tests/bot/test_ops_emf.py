"""CloudWatch Embedded Metric Format lines: the structure CloudWatch requires (`_aws.CloudWatchMetrics` with the
AINutritionist namespace, dimensions and metrics, each value at the top level), counters sent as what they added,
and the running bot writing them only when `cloudwatch_emf` is on."""

from __future__ import annotations

import json
import time

from bot.ops.emf import EmfWriter
from bot.ops.metrics import BotMetrics

UNITS = {"Count", "Seconds", "None", "Milliseconds", "Bytes", "Percent"}


def assert_emf(doc: dict, namespace: str = "AINutritionist") -> None:
    """Fail unless `doc` is a valid EMF document (the specification's rules we rely on)."""
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 1_600_000_000_000
    directives = aws["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert directive["Namespace"] == namespace
        assert all(isinstance(ds, list) and len(ds) <= 30 for ds in directive["Dimensions"])
        for dimension in (d for ds in directive["Dimensions"] for d in ds):
            assert isinstance(doc[dimension], str), f"dimension {dimension} must be a top-level string"
        assert directive["Metrics"]
        for metric in directive["Metrics"]:
            assert metric["Unit"] in UNITS
            assert isinstance(doc[metric["Name"]], int | float), f"{metric['Name']} must be a top-level number"


def test_documents_have_the_emf_structure_and_counters_send_deltas():
    metrics = BotMetrics()
    metrics.engagement.labels("photo", "free", "foundation").inc(3)
    metrics.engagement.labels("text:question", "premium", "ongoing").inc()
    metrics.photos_analysed.inc(2)
    metrics.webhook_seconds.labels("replied").observe(0.5)
    metrics.webhook_seconds.labels("replied").observe(1.5)
    writer = EmfWriter(metrics.registry, "AINutritionist")
    docs = writer.documents()
    for doc in docs:
        assert_emf(doc)
        json.dumps(doc)  # serialisable as one line
    engagement = {(d["Action"], d["Tier"], d["Stage"]): d["UserEngagement"] for d in docs if "UserEngagement" in d}
    assert engagement == {("photo", "free", "foundation"): 3, ("text:question", "premium", "ongoing"): 1}
    first = next(d for d in docs if "UserEngagement" in d)
    assert first["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Action", "Stage", "Tier"]]
    assert next(d["PhotosAnalysed"] for d in docs if "PhotosAnalysed" in d) == 2
    latency = next(d for d in docs if "WebhookLatency" in d)
    assert latency["Outcome"] == "replied" and latency["WebhookLatency"] == 1.0  # the mean over the interval

    metrics.engagement.labels("photo", "free", "foundation").inc()
    later = writer.documents()
    assert [d["UserEngagement"] for d in later if "UserEngagement" in d] == [1]  # only what was added
    assert not any("PhotosAnalysed" in d or "WebhookLatency" in d for d in later)  # nothing moved


def test_the_bot_writes_emf_lines_only_when_asked(make_bot, capsys):
    quiet = make_bot()
    assert quiet.send("hello")
    time.sleep(0.2)
    assert '"_aws"' not in capsys.readouterr().out
    bot = make_bot(cloudwatch_emf=True, cloudwatch_emf_interval_s=0.05, metrics_store_cache_s=0)
    assert bot.send("hello")
    deadline, docs = time.monotonic() + 10, []
    while True:
        # bare JSON lines on stdout, as the awslogs driver and the CloudWatch agent read them
        docs += [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
        if any("UserEngagement" in d for d in docs) and any("PendingMessages" in d for d in docs):
            break
        assert time.monotonic() < deadline, f"no EMF lines with engagement and pending: {docs[:3]}"
        time.sleep(0.05)
    for doc in docs:
        assert_emf(doc)
    assert any(d.get("Tier") == "free" and d.get("Stage") == "foundation" for d in docs if "UserEngagement" in d)
