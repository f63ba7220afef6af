"""`POST /analyze` through the service's ASGI app (in process, tiny real models): both body forms, the
annotated PNG, health, and a clear 4xx — never a 500 — for every bad upload."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from serving.schemas import AnalyzeResponse

pytestmark = pytest.mark.slow  # the session fixture trains tiny models (about a minute, cached afterwards)

LIMIT_MB = 2.0


@pytest.fixture(scope="module")
def client(coach_app):
    from starlette.testclient import TestClient

    os.environ["PLATE_SERVING_MAX_UPLOAD_MB"] = str(LIMIT_MB)
    try:
        with TestClient(coach_app, raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        os.environ.pop("PLATE_SERVING_MAX_UPLOAD_MB", None)


def _encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid 1-bit PNG header claiming width x height pixels, with a tiny (truncated) payload."""
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


def test_raw_jpeg_body_as_the_bot_sends_it(client, photo_bytes, tiny_photos):
    response = client.post("/analyze", content=photo_bytes(tiny_photos[0]), headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200, response.text
    result = AnalyzeResponse.model_validate_json(response.content)
    assert (result.image.width, result.image.height) == (816, 551)
    assert set(result.models) == {"detector", "portion"} and result.timings_ms["total"] > 0


def test_multipart_and_the_bentoml_route_agree(client, photo_bytes, tiny_photos):
    data = photo_bytes(tiny_photos[1])
    raw = client.post("/analyze", content=data, headers={"Content-Type": "image/jpeg"}).json()
    form = client.post("/analyze", files={"image": ("meal.jpg", data, "image/jpeg")})
    bento = client.post("/analyze/file", files={"image": ("meal.jpg", data, "image/jpeg")})
    assert form.status_code == bento.status_code == 200, (form.text, bento.text)
    for other in (form.json(), bento.json()):
        assert {k: v for k, v in other.items() if k != "timings_ms"} == {
            k: v for k, v in raw.items() if k != "timings_ms"
        }


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_other_formats(client, fmt, photo_bytes, tiny_photos):
    image = Image.open(io.BytesIO(photo_bytes(tiny_photos[2]))).convert("RGB").resize((640, 480))
    response = client.post("/analyze", content=_encoded(image, fmt), headers={"Content-Type": f"image/{fmt.lower()}"})
    assert response.status_code == 200, response.text
    assert response.json()["image"] == {"width": 640, "height": 480}


def test_exif_rotation_is_applied(client, photo_bytes, tiny_photos):
    image = Image.open(io.BytesIO(photo_bytes(tiny_photos[0]))).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    response = client.post(
        "/analyze", content=_encoded(image, "JPEG", exif=exif), headers={"Content-Type": "image/jpeg"}
    )
    assert response.json()["image"] == {"width": 551, "height": 816}


def test_annotated_png(client, photo_bytes, tiny_photos):
    response = client.post(
        "/analyze?annotate=true", content=photo_bytes(tiny_photos[0]), headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (816, 551)


def test_health_and_readiness(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def _bad_uploads() -> dict[str, tuple[bytes, str, int]]:
    photo = _encoded(Image.new("RGB", (320, 240), (180, 120, 60)), "JPEG")
    return {
        "zero bytes": (b"", "image/jpeg", 400),
        "not an image": (b"<html>surely a photo</html>", "image/jpeg", 415),
        "text sent as text": (b"hello", "text/plain", 415),
        "truncated jpeg": (photo[: len(photo) // 2], "image/jpeg", 400),
        "corrupt jpeg": (photo[:200] + bytes(len(photo) - 200), "image/jpeg", 400),
        "too big": (photo + bytes(int(LIMIT_MB * 1024 * 1024)), "image/jpeg", 413),
        "decompression bomb": (_png_bomb(), "image/png", 413),
        "unsupported type (GIF)": (_encoded(Image.new("P", (320, 240)), "GIF"), "image/gif", 415),
        "unsupported type (BMP)": (_encoded(Image.new("RGB", (320, 240)), "BMP"), "image/bmp", 415),
        "too small": (_encoded(Image.new("RGB", (8, 8)), "PNG"), "image/png", 400),
    }


@pytest.mark.parametrize("case", list(_bad_uploads()))
def test_every_bad_upload_gets_a_clear_4xx(client, case):
    data, content_type, status = _bad_uploads()[case]
    for response in (
        client.post("/analyze", content=data, headers={"Content-Type": content_type}),
        client.post("/analyze", files={"image": ("upload", data, content_type)}),
    ):
        assert response.status_code == status, (case, response.text)
        message = response.json()["detail"]
        assert isinstance(message, str) and len(message) > 10


def test_a_form_without_a_file(client):
    response = client.post("/analyze", data={"note": "no photo"}, files={"other": ("", b"", "")})
    assert response.status_code in (400, 415) and response.json()["detail"]


def test_bentoml_route_refuses_bad_uploads_with_4xx(client):
    response = client.post("/analyze/file", files={"image": ("x.jpg", b"junk", "image/jpeg")})
    assert response.status_code == 415 and "not an image" in response.json()["detail"]


def test_declared_length_over_the_limit_is_refused_before_reading(client):
    response = client.post(
        "/analyze", content=b"x" * 10, headers={"Content-Type": "image/jpeg", "Content-Length": str(50 * 1024 * 1024)}
    )
    assert response.status_code == 413
