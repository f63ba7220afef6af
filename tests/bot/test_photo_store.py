"""The photo store on its own (a local directory; S3 against a real S3-compatible server, moto's, on loopback),
then the bot keeping a photo in S3 end to end. Also the gallery's matching rules and the optional embedding."""

import base64

import numpy as np
import pytest

from bot.devtools.standins import free_port, standin_embedding, standin_unknown_item
from bot.gallery.matching import best_match, decode_embedding
from bot.photos.analysis_client import AnalyzedItem
from bot.storage.photo_store import LocalPhotoStore, S3PhotoStore, make_photo_store, sha256_of
from bot.storage.records import LabelledCrop, utcnow


def _round_trip(store) -> None:
    data = b"\xff\xd8\xff" + b"meal" * 100
    sha = store.put(data, "image/jpeg")
    assert sha == sha256_of(data) and store.put(data, "image/jpeg") == sha  # content-addressed, idempotent
    assert store.exists(sha) and store.get(sha) == data
    store.delete(sha)
    store.delete(sha)  # already gone: nothing happens
    assert not store.exists(sha)
    with pytest.raises(KeyError):
        store.get(sha)
    with pytest.raises(ValueError, match="not a sha256"):
        store.get("../../etc/passwd")


def test_the_local_store_keeps_bytes_by_sha256(tmp_path):
    store = make_photo_store(str(tmp_path / "photos"))
    assert isinstance(store, LocalPhotoStore)
    _round_trip(store)
    assert not [p for p in (tmp_path / "photos").rglob("*") if p.name.startswith(".incoming-")]


@pytest.fixture
def s3_server(monkeypatch):
    """moto's S3-compatible server on 127.0.0.1 (a real HTTP server speaking the S3 API), with fake keys."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(key, raising=False)
    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="meals")
    yield url
    server.stop()


def test_the_s3_store_against_an_s3_compatible_server(s3_server):
    store = make_photo_store("s3://meals/photos/", endpoint_url=s3_server, region="us-east-1")
    assert isinstance(store, S3PhotoStore) and store.prefix == "photos"
    _round_trip(store)
    data = b"\x89PNG" + b"x" * 10
    sha = store.put(data, "image/png")
    head = store.client.head_object(Bucket="meals", Key=f"photos/{sha}")
    assert head["ContentType"] == "image/png"


def test_the_bot_keeps_a_photo_in_s3(make_bot, s3_server):
    import boto3

    bot = make_bot(photo_store="s3://meals/bot", photo_store_endpoint_url=s3_server, aws_region="us-east-1")
    photo = bot.jpeg(color="purple")
    assert bot.send_photo(photo)[0].startswith("Apple")
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    assert client.get_object(Bucket="meals", Key=f"bot/{sha256_of(photo)}")["Body"].read() == photo
    assert bot.store.stored_photos(bot.user_id()) == [sha256_of(photo)]


def test_a_malformed_or_missing_embedding_is_ignored_not_a_contract_break():
    base = standin_unknown_item(("pasta", 0.5))
    assert AnalyzedItem.model_validate(base).embedding is None
    assert AnalyzedItem.model_validate({**base, "embedding": [0.1, 0.2]}).embedding is None
    assert decode_embedding("not base64!") is None
    assert decode_embedding(base64.b64encode(b"\x00\x00\x00").decode()) is None  # odd byte count
    assert decode_embedding(base64.b64encode(bytes(8)).decode()) is None  # all zeros
    vector = decode_embedding(AnalyzedItem.model_validate({**base, "embedding": standin_embedding(4)}).embedding)
    assert vector.shape == (1280,) and vector[4] == pytest.approx(1.0)


def _crop(user_id: int, label: str, direction: int, blend: float = 0.0) -> LabelledCrop:
    raw = base64.b64decode(standin_embedding(direction, blend, towards=direction + 1))
    return LabelledCrop(
        0, user_id, "SM", None, None, None, label, None, label.title(), label, "text", {}, raw, utcnow()
    )


def test_the_gallery_prefers_the_persons_own_label_and_needs_n_people_for_anyone_elses():
    query = decode_embedding(standin_embedding(0))
    others = [_crop(2, "pasta", 0, 0.1), _crop(3, "pasta", 0, 0.2), _crop(4, "rice", 0, 0.1)]
    assert best_match(query, 1, others, 0.9, confirmations=3) is None
    agreed = best_match(query, 1, others, 0.9, confirmations=2)
    assert (agreed.label, agreed.people, agreed.own) == ("pasta", 2, False)
    mine = best_match(query, 1, [*others, _crop(1, "rice", 0, 0.4)], 0.9, confirmations=2)
    assert (mine.label, mine.own) == ("rice", True)
    far = best_match(query, 1, [_crop(1, "rice", 5)], 0.9, confirmations=1)  # orthogonal
    assert far is None
    assert best_match(np.ones(3, np.float32) / np.sqrt(3), 1, others, 0.9, 1) is None  # other dimension: skipped
