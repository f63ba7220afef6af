"""A real `bentoml serve` with the tiny real models, called over HTTP, in both shapes (one process, the default;
and the models in their own batching service, PLATE_SERVING_SPLIT): the BentoML client, the raw body the bot
sends, bad input, and concurrent requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from serving.local_server import running_server
from serving.schemas import AnalyzeResponse
from training.model_names import DETECTOR_MODEL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["false", "true"], ids=["one-process", "split"])
def server(tiny_models, request):
    with running_server({**tiny_models.env, "PLATE_SERVING_SPLIT": request.param}) as url:
        yield url


def test_the_bentoml_client(server, photo_bytes, tiny_photos, ecustfd_dir):
    import bentoml

    photo_bytes(tiny_photos[0])  # skips when the data is absent
    with bentoml.SyncHTTPClient(server) as client:
        assert client.is_ready()
        answer = client.analyze_file(image=ecustfd_dir / "JPEGImages" / tiny_photos[0])
    result = AnalyzeResponse.model_validate(answer)
    assert result.image.width == 816 and result.models["detector"].name == DETECTOR_MODEL


def test_raw_body_bad_input_and_concurrency(server, photo_bytes, tiny_photos):
    data = photo_bytes(tiny_photos[1])
    with httpx.Client(base_url=server, timeout=60, trust_env=False) as http:
        refused = http.post("/analyze", content=b"GIF89a not really", headers={"Content-Type": "image/gif"})
        assert refused.status_code in (400, 415) and refused.json()["detail"]
        post = lambda _: http.post("/analyze", content=data, headers={"Content-Type": "image/jpeg"})  # noqa: E731
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(post, range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    answers = [AnalyzeResponse.model_validate_json(r.content) for r in responses]
    # Batched with each other they may differ in float noise (and tie order among the tiny model's boxes), no more.
    first = answers[0]
    for answer in answers[1:]:
        assert len(answer.items) == len(first.items) and answer.reference.kind == first.reference.kind
        assert answer.totals.grams == pytest.approx(first.totals.grams, rel=0.05)
