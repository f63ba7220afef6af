"""The model server's front door: the optional bearer token, upload limits enforced while reading, no URL
inputs on `/analyze/file`, and health answers that carry no internal detail (an ASGI middleware)."""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from serving.image_input import ImageRejected

log = logging.getLogger(__name__)

MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and small fields around the photo
MAX_PARTS = 16
OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})  # probes answer without the token
FILE_ROUTE = "/analyze/file"
_SAFE_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+$")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _too_large(limit: int) -> ImageRejected:
    return ImageRejected(f"the upload is over the {limit / 1e6:.1f} MB limit", status=413)


async def limited(chunks: AsyncIterator[bytes], limit: int, declared: str | None = None) -> AsyncIterator[bytes]:
    """`chunks` passed on, refusing (413) once more than `limit` bytes are declared or have come."""
    if declared and declared.strip().isdigit() and int(declared) > limit:
        raise ImageRejected(
            f"the upload is {int(declared) / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB", status=413
        )
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk


@dataclass
class FormPart:
    """One part of a multipart/form-data body. `filename` is None for a plain field (Starlette's rule too)."""

    name: str
    filename: str | None
    content_type: str
    data: bytearray = field(default_factory=bytearray)


class _PartCollector:
    """python-multipart callbacks that keep the parts in memory, refusing (413) any past `limit` bytes."""

    def __init__(self, limit: int):
        self.limit = limit
        self.parts: list[FormPart] = []
        self._headers: dict[bytes, bytes] = {}
        self._name = b""
        self._value = b""

    def on_part_begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise ImageRejected(f"the form has more than {MAX_PARTS} parts; send one file field named 'image'")
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._name.strip().lower()] = self._value.strip()
        self._name, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise ImageRejected("a part of the form has no name in its Content-Disposition header")
        filename = options.get(b"filename")
        self.parts.append(
            FormPart(
                name=options[b"name"].decode("utf-8", "replace"),
                filename=None if filename is None else filename.decode("utf-8", "replace"),
                content_type=self._headers.get(b"content-type", b"").decode("latin-1"),
            )
        )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.parts[-1]
        if len(part.data) + (end - start) > self.limit:
            raise _too_large(self.limit)
        part.data += data[start:end]

    def callbacks(self) -> dict[str, Callable]:
        names = ("on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished")
        return {name: getattr(self, name) for name in (*names, "on_part_data")}


async def read_form(
    chunks: AsyncIterator[bytes], content_type: str, limit: int, declared: str | None = None
) -> list[FormPart]:
    """The parts of a multipart/form-data body, parsed as it streams in: no part may pass `limit` bytes, and
    the whole body not `limit` plus a little for the form around it (413 either way).

    Raises:
        ImageRejected: 413 too large, 400 malformed form.
    """
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ImageRejected("the multipart/form-data Content-Type has no boundary")
    collector = _PartCollector(limit)
    parser = MultipartParser(boundary, collector.callbacks())
    try:
        async for chunk in limited(chunks, limit + MULTIPART_OVERHEAD, declared):
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise ImageRejected(f"the multipart form is malformed: {exc}") from exc
    return collector.parts


def _canonical_form(image: FormPart) -> tuple[bytes, str]:
    """A fresh body holding only the photo as a file part: what BentoML parses is what we checked."""
    boundary = secrets.token_hex(16)
    media_type = image.content_type if _SAFE_MEDIA_TYPE.match(image.content_type) else "application/octet-stream"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="upload"\r\n'
        f"Content-Type: {media_type}\r\n\r\n"
    ).encode()
    return head + bytes(image.data) + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def _answer(send: Send, status: int, body: bytes, media_type: str, extra: dict[str, str] | None = None) -> None:
    headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _detail(send: Send, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
    await _answer(send, status, json.dumps({"detail": detail}).encode(), "application/json", extra)


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body", False):
            return


class ServingGuard:
    """ASGI middleware in front of every route of the web service.

    `settings` is called each time the app starts and must give `.token` (a SecretStr or None: the bearer token
    every route but the health probes then needs) and `.limits.max_bytes` (the largest photo)."""

    def __init__(self, app: Callable, settings: Callable[[], Any]):
        self.app = app
        self.settings = settings
        self._configure()

    def _configure(self) -> None:
        current = self.settings()
        token = current.token.get_secret_value() if current.token is not None else ""
        self.token = token.encode() if token else None
        self.max_bytes = current.limits.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self._configure()  # a start: read the settings again, as the service itself does
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"].rstrip("/") or "/"
        if path in OPEN_PATHS:
            return await self._probe(scope, receive, send)
        if self.token is not None and not self._authorized(scope):
            log.info("refused %s %s: no or wrong bearer token", scope["method"], path)
            return await _detail(send, 401, "missing or wrong bearer token", {"www-authenticate": "Bearer"})
        if path == FILE_ROUTE and scope["method"] == "POST":
            return await self._file_upload(scope, receive, send)
        return await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, credentials = given.partition(b" ")
        same = hmac.compare_digest(credentials.strip(), self.token)  # constant time: no guessing byte by byte
        return same and scheme.lower() == b"bearer"  # the scheme is case-insensitive (RFC 9110)

    async def _probe(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a 200 through; answer anything else (an error page, an exception's text) as a bare 503."""
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        try:
            await self.app(scope, receive, keep)
            ok = bool(messages) and messages[0]["type"] == "http.response.start" and messages[0]["status"] == 200
            if not ok and messages:
                log.warning("%s answered %s", scope["path"], messages[0].get("status"))
        except Exception:
            log.exception("%s failed", scope["path"])
            ok = False
        if not ok:
            return await _answer(send, 503, b"not ready\n", "text/plain; charset=utf-8")
        for message in messages:
            await send(message)

    async def _file_upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        """BentoML's file input would also download a URL sent in place of the photo (a form field that is a
        string, not a file) and spools uploads without a limit: accept only a multipart file, read it under the
        limit, and hand BentoML a body rebuilt from the checked photo (what it parses is what we checked)."""
        headers = {k.lower(): v.decode("latin-1") for k, v in scope["headers"]}
        content_type = headers.get(b"content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            return await _detail(
                send, 415, "send the photo as a multipart file field named 'image' (this route takes no URLs)"
            )
        try:
            parts = await read_form(_body(receive), content_type, self.max_bytes, headers.get(b"content-length"))
            images = [p for p in parts if p.name == "image"]
            if len(images) != 1 or images[0].filename is None:
                raise ImageRejected("send exactly one file field named 'image'; URL inputs are off on this server")
        except ImageRejected as exc:
            log.info("not analysed: %s", exc)
            return await _detail(send, exc.status, str(exc))
        body, form_type = _canonical_form(images[0])
        kept = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"content-type", b"content-length")]
        kept += [(b"content-type", form_type.encode()), (b"content-length", str(len(body)).encode())]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": kept}, replay, send)
