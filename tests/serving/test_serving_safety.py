"""The model server is safe to put on a network: uploads refused while they stream in, no URL downloads, an
optional bearer token, and probes that say nothing about internals (`serving/http_guard.py`)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from PIL import Image
from pydantic import SecretStr

from serving.http_guard import ServingGuard, limited, read_form
from serving.image_input import ImageLimits, ImageRejected

SECRET = "s3cr3t-token"
LEAK = "postgres://admin:hunter2@10.0.0.5/db"  # what an exception inside a probe might say


def _jpeg(size=(320, 240), color=(180, 120, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def _form(parts: list[tuple[str, str | None, str, bytes]], boundary: str = "b0undary") -> tuple[bytes, str]:
    body = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        body += (f"Content-Type: {content_type}\r\n" if content_type else "").encode() + b"\r\n" + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class _Counted:
    """An upload arriving in 64 kB chunks that counts how many the server pulled."""

    def __init__(self, head: bytes, total: int, chunk: int = 64 * 1024):
        self.head, self.total, self.chunk, self.pulled = head, total, chunk, 0

    async def __aiter__(self):
        yield self.head
        for _ in range(self.total // self.chunk):
            self.pulled += 1
            yield b"\xff" * self.chunk


# --- reading under the limit (no model needed) ---------------------------------------------------------------


def test_a_multipart_photo_over_the_limit_is_refused_while_it_streams():
    head, content_type = _form([("image", "big.jpg", "image/jpeg", b"")])
    upload = _Counted(head[: head.index(b"\r\n--b0undary--")], total=200 * 1024 * 1024)
    with pytest.raises(ImageRejected) as info:
        asyncio.run(read_form(upload.__aiter__(), content_type, limit=1024 * 1024))
    assert info.value.status == 413
    assert upload.pulled <= 1024 * 1024 // upload.chunk + 2, "read far past the limit before refusing"


def test_a_declared_length_over_the_limit_is_refused_before_any_byte():
    upload = _Counted(b"", total=10 * 1024 * 1024)
    with pytest.raises(ImageRejected) as info:
        asyncio.run(read_form(upload.__aiter__(), "multipart/form-data; boundary=x", 1024, declared="99999999"))
    assert info.value.status == 413 and upload.pulled == 0

    async def drain():
        return [chunk async for chunk in limited(upload.__aiter__(), 1024, declared=str(10 * 1024 * 1024))]

    with pytest.raises(ImageRejected):
        asyncio.run(drain())
    assert upload.pulled == 0


def test_read_form_keeps_files_and_fields_apart():
    body, content_type = _form([("note", None, "", b"hello"), ("image", "meal.jpg", "image/jpeg", b"\xff\xd8jpeg")])

    async def chunks():
        for start in range(0, len(body), 7):  # boundaries and headers split across chunks
            yield body[start : start + 7]

    note, image = asyncio.run(read_form(chunks(), content_type, limit=1000))
    assert (note.name, note.filename, bytes(note.data)) == ("note", None, b"hello")
    assert (image.name, image.filename, image.content_type, bytes(image.data)) == (
        "image",
        "meal.jpg",
        "image/jpeg",
        b"\xff\xd8jpeg",
    )


@pytest.mark.parametrize(
    "body",
    [b"--b0undary\r\nno headers at all", b"garbage", b"--b0undary\r\nContent-Type: x\r\n\r\ndata\r\n--b0undary--"],
)
def test_a_malformed_form_is_a_400(body):
    async def chunks():
        yield body

    with pytest.raises(ImageRejected) as info:
        asyncio.run(read_form(chunks(), "multipart/form-data; boundary=b0undary", limit=1000))
    assert info.value.status == 400


# --- the guard in front of a stand-in app (no model needed) --------------------------------------------------


def _settings(token: str | None = None, max_bytes: int = 1000):
    return lambda: SimpleNamespace(token=None if token is None else SecretStr(token), limits=ImageLimits(max_bytes))


class _App:
    """A stand-in for the service's app: answers 200 (or what `fail` says) and keeps what it was given."""

    def __init__(self, fail: str | None = None):
        self.fail, self.calls = fail, []

    async def __call__(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.calls.append((scope, body))
        if self.fail == "raise":
            raise RuntimeError(f"lost the connection to {LEAK}")
        status, text = (500, f"Traceback ...\nRuntimeError: {LEAK}") if self.fail == "500" else (200, "ok")
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": text.encode()})


def _call(guard, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""):
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("", 401),
        ("Bearer", 401),
        ("Bearer wrong-token", 401),
        (f"Basic {SECRET}", 401),
        (f"Bearer {SECRET}x", 401),
        (f"Bearer {SECRET}", 200),
        (f"bearer {SECRET}", 200),  # the scheme is case-insensitive
    ],
)
def test_the_token_is_needed_when_set(authorization, status):
    app = _App()
    guard = ServingGuard(app, _settings(SECRET))
    headers = {"Content-Type": "image/jpeg"} | ({"Authorization": authorization} if authorization is not None else {})
    got, body = _call(guard, "POST", "/analyze", headers, b"photo")
    assert got == status
    assert bool(app.calls) == (status == 200), "the app must not see a request without the token"
    if status == 401:
        assert SECRET not in body.decode()


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_probes_need_no_token(path):
    assert _call(ServingGuard(_App(), _settings(SECRET)), "GET", path)[0] == 200


@pytest.mark.parametrize("path", ["/", "/docs.json", "/metrics", "/analyze/file", "/analyze/"])
def test_everything_else_needs_it(path):
    assert _call(ServingGuard(_App(), _settings(SECRET)), "POST", path)[0] == 401


def test_no_token_set_means_open():
    assert _call(ServingGuard(_App(), _settings(None)), "POST", "/analyze", {}, b"x")[0] == 200


@pytest.mark.parametrize("fail", ["raise", "500"])
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_a_failing_probe_says_nothing_about_why(path, fail):
    status, body = _call(ServingGuard(_App(fail), _settings()), "GET", path)
    assert status == 503 and body == b"not ready\n"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"http://example.com/meal.jpg"),
        ("text/plain", b"https://example.com/meal.jpg"),
        ("application/x-www-form-urlencoded", b"image=http%3A%2F%2Fexample.com%2Fmeal.jpg"),
        (None, b"http://example.com/meal.jpg"),
    ],
)
def test_the_file_route_takes_only_a_multipart_file(content_type, body):
    app = _App()
    headers = {"Content-Type": content_type} if content_type else {}
    assert _call(ServingGuard(app, _settings()), "POST", "/analyze/file", headers, body)[0] == 415
    assert not app.calls


def test_a_url_in_the_image_field_is_refused():
    app = _App()
    body, content_type = _form([("image", None, "", b"http://example.com/meal.jpg")])
    status, answer = _call(
        ServingGuard(app, _settings()), "POST", "/analyze/file", {"Content-Type": content_type}, body
    )
    assert status == 400 and "URL" in json.loads(answer)["detail"] and not app.calls


def test_the_file_route_gets_a_body_rebuilt_from_the_checked_photo():
    app = _App()
    body, content_type = _form(
        [("note", None, "", b"x" * 100), ("image", "../../etc/meal.jpg", "image/jpeg\r\nX-Evil: 1", b"JPEGDATA")]
    )
    status, _ = _call(ServingGuard(app, _settings()), "POST", "/analyze/file", {"Content-Type": content_type}, body)
    assert status == 200
    scope, forwarded = app.calls[0]
    headers = dict(scope["headers"])
    assert headers[b"content-length"] == str(len(forwarded)).encode()
    assert headers[b"content-type"].startswith(b"multipart/form-data; boundary=")
    assert b"JPEGDATA" in forwarded and b"note" not in forwarded and b"etc" not in forwarded
    assert b"X-Evil" not in forwarded


def test_the_file_route_refuses_a_photo_over_the_limit():
    app = _App()
    body, content_type = _form([("image", "big.jpg", "image/jpeg", b"x" * 1001)])
    status, _ = _call(
        ServingGuard(app, _settings(max_bytes=1000)), "POST", "/analyze/file", {"Content-Type": content_type}, body
    )
    assert status == 413 and not app.calls


# --- through the real service (tiny models) ------------------------------------------------------------------

LIMIT_MB = 1.0


@pytest.fixture(scope="module")
def guarded(coach_app):
    """The service app started with a token set and a 1 MB limit; the client sends the token unless told not to."""
    from starlette.testclient import TestClient

    env = {"PLATE_SERVING_TOKEN": SECRET, "PLATE_SERVING_MAX_UPLOAD_MB": str(LIMIT_MB)}
    os.environ.update(env)
    try:
        with TestClient(coach_app, raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {SECRET}"
            yield client
    finally:
        for name in env:
            os.environ.pop(name, None)


@pytest.fixture
def counting_server():
    """A local HTTP server with a photo on it; `hits` counts the requests it got."""
    hits: list[str] = []
    photo = _jpeg()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(photo)))
            self.end_headers()
            self.wfile.write(photo)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/meal.jpg", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_the_service_needs_the_token(guarded, photo_bytes, tiny_photos):
    data = photo_bytes(tiny_photos[0])
    for auth in ({"Authorization": ""}, {"Authorization": "Bearer nope"}):
        raw = guarded.post("/analyze", content=data, headers={"Content-Type": "image/jpeg", **auth})
        bento = guarded.post("/analyze/file", files={"image": ("meal.jpg", data, "image/jpeg")}, headers=auth)
        assert raw.status_code == bento.status_code == 401
    assert guarded.post("/analyze", content=data, headers={"Content-Type": "image/jpeg"}).status_code == 200
    assert guarded.post("/analyze/file", files={"image": ("meal.jpg", data, "image/jpeg")}).status_code == 200
    for path in ("/healthz", "/livez", "/readyz"):
        assert guarded.get(path, headers={"Authorization": ""}).status_code == 200


@pytest.mark.slow
def test_no_url_is_ever_fetched(guarded, counting_server, monkeypatch):
    """BentoML would download a URL sent in place of the file: it blocks private addresses, but not a proxy
    from the environment. The counting server is both a direct target and that proxy."""
    direct, hits = counting_server
    proxy = direct.rsplit("/", 1)[0]
    if "uvloop" not in sys.modules:
        # BentoML's address check patches uvloop's Loop; without uvloop its download path fails (a 500) before
        # any request. A stand-in Loop gets it as far as it goes in a container with uvloop, through the proxy.
        monkeypatch.setitem(sys.modules, "uvloop", SimpleNamespace(Loop=type("Loop", (), {"create_connection": None})))
        monkeypatch.setattr("bentoml._internal.utils.uri.original_create_connection", None)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "testserver")  # the test client's own requests go straight to the app
    for url in (direct, "http://203.0.113.7/meal.jpg"):  # TEST-NET-3: reachable here only through the proxy
        answers = [
            guarded.post("/analyze/file", content=url.encode(), headers={"Content-Type": "application/json"}),
            guarded.post(
                "/analyze/file", content=json.dumps(url).encode(), headers={"Content-Type": "application/json"}
            ),
            guarded.post("/analyze/file", content=url.encode(), headers={"Content-Type": "text/plain"}),
            guarded.post("/analyze/file", data={"image": url}),  # form-urlencoded
            guarded.post("/analyze/file", data={"image": url}, files={"other": ("x.jpg", b"x", "image/jpeg")}),
        ]
        assert [a.status_code for a in answers] == [415, 415, 415, 415, 400], [a.text for a in answers]
    assert hits == [], f"the server fetched {hits}"


@pytest.mark.slow
@pytest.mark.parametrize("route", ["/analyze", "/analyze/file"])
def test_a_multipart_upload_over_the_limit_never_reaches_a_spooling_parser(guarded, route, monkeypatch):
    import starlette.formparsers

    spooled = []
    parse = starlette.formparsers.MultiPartParser.parse

    async def spy(self):
        spooled.append(True)
        return await parse(self)

    monkeypatch.setattr(starlette.formparsers.MultiPartParser, "parse", spy)
    big = _jpeg() + bytes(int(LIMIT_MB * 1024 * 1024))
    response = guarded.post(route, files={"image": ("big.jpg", big, "image/jpeg")})
    assert response.status_code == 413, response.text
    assert not spooled, "Starlette's form parser (which spools files without a limit) read the upload"
    declared = guarded.post(
        route,
        content=b"--x\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(50 * 1024 * 1024)},
    )
    assert declared.status_code == 413


@pytest.mark.slow
def test_an_mpo_photo_is_analysed_as_its_first_picture(guarded, photo_bytes, tiny_photos):
    photo = Image.open(io.BytesIO(photo_bytes(tiny_photos[0]))).convert("RGB")
    gain_map = photo.resize((photo.width // 4, photo.height // 4)).convert("L").convert("RGB")
    buffer = io.BytesIO()
    photo.save(buffer, format="MPO", save_all=True, append_images=[gain_map])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    for response in (
        guarded.post("/analyze", content=buffer.getvalue(), headers={"Content-Type": "image/jpeg"}),
        guarded.post("/analyze/file", files={"image": ("phone.jpg", buffer.getvalue(), "image/jpeg")}),
    ):
        assert response.status_code == 200, response.text
        assert response.json()["image"] == {"width": photo.width, "height": photo.height}


@pytest.mark.slow
@pytest.mark.parametrize(("path", "hook"), [("/readyz", "__is_ready__"), ("/healthz", "__is_alive__")])
def test_probes_of_a_broken_service_say_nothing_about_why(guarded, path, hook, monkeypatch):
    from serving.service import PlateCoach

    healthy = guarded.get(path)
    assert healthy.status_code == 200 and healthy.text.strip() == ""

    def broken(self):
        raise RuntimeError(f"lost the connection to {LEAK}")

    monkeypatch.setattr(PlateCoach.inner, hook, broken, raising=False)
    for answer in (guarded.get(path), guarded.get(path, headers={"Authorization": ""})):
        assert answer.status_code == 503
        assert answer.text == "not ready\n", answer.text
    monkeypatch.setattr(PlateCoach.inner, hook, lambda self: False, raising=False)
    answer = guarded.get(path)
    assert answer.status_code == 503 and answer.text == "not ready\n"
