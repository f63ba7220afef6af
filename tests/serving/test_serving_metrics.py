"""The model server's own Prometheus `/metrics` (BentoML's), scraped from a real `bentoml serve` with the tiny real
models: request counts by endpoint and status, the latency histogram, and the bearer token guarding it."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving.local_server import running_server

pytestmark = pytest.mark.slow
TOKEN = "metrics-test-token-0123456789"


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_bentoml_metrics_count_analyze_calls_and_need_the_token(tiny_models, photo_bytes, tiny_photos):
    data = photo_bytes(tiny_photos[0])
    with running_server({**tiny_models.env, "PLATE_SERVING_TOKEN": TOKEN}) as url:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=url, timeout=60, trust_env=False) as http:
            assert http.get("/metrics").status_code == 401  # the token guards it like every route but the probes
            ok = http.post("/analyze", content=data, headers={"Content-Type": "image/jpeg", **auth})
            refused = http.post("/analyze", content=b"GIF89a no", headers={"Content-Type": "image/gif", **auth})
            assert ok.status_code == 200 and refused.status_code in (400, 415)
            scraped = http.get("/metrics", headers=auth)
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    found = samples(scraped.text)
    totals: dict[str, float] = {}
    for s in found:
        if s.name == "bentoml_service_request_total" and s.labels.get("endpoint") == "/analyze":
            code = s.labels["http_response_code"]
            totals[code] = totals.get(code, 0) + s.value
    assert totals.get("200") == 1 and totals.get(str(refused.status_code)) == 1, totals
    durations = [
        s
        for s in found
        if s.name == "bentoml_service_request_duration_seconds_count" and s.labels.get("endpoint") == "/analyze"
    ]
    assert sum(s.value for s in durations) == 2
