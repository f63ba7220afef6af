"""LOCAL STAND-IN of Twilio for tests, `bot.devtools.simulate` and the benchmark — not the real service.

`TwilioStandIn` answers what `twilio.rest.Client` sends and parses, with basic auth: the Messages API (create,
and list with the `To`, `From` and `DateSent` filters), a message's Media (list, delete), and a media host
(`GET /media/{name}`). Lists come as one page in Twilio's 2010 page shape (records under one key beside the
paging fields `twilio.base.page.Page` knows). Times are RFC 2822, as Twilio writes them.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

API = "/2010-04-01/Accounts/{account_sid}"
UNAUTHORISED = {"code": 20003, "message": "Authenticate", "status": 401}
NOT_FOUND = {"code": 20404, "message": "The requested resource was not found", "status": 404}


def _rfc2822(at: datetime) -> str:
    return format_datetime(at)  # an aware UTC time: "Mon, 16 Nov 2026 10:00:00 +0000"


def _page(key: str, records: list[dict], uri: str) -> dict:
    """One page holding every record, as the 2010 API pages (no `meta`: the record key is the only other key)."""
    return {
        key: records,
        "first_page_uri": f"{uri}?PageSize=50&Page=0",
        "next_page_uri": None,
        "previous_page_uri": None,
        "page": 0,
        "page_size": max(50, len(records)),
        "start": 0,
        "end": max(len(records) - 1, 0),
        "uri": uri,
    }


def _sent_on(query: dict[str, str], sent: date) -> bool:
    """Twilio's DateSent filters compare days only, whatever time of day the client wrote."""
    for key, keep in (
        ("DateSent", sent.__eq__),
        ("DateSent>", sent.__ge__),
        ("DateSent>=", sent.__ge__),
        ("DateSent<", sent.__le__),
        ("DateSent<=", sent.__le__),
    ):
        if key in query and not keep(date.fromisoformat(query[key][:10])):
            return False
    return True


@dataclass
class TwilioStandIn:
    account_sid: str
    auth_token: str
    messages: list[dict] = field(default_factory=list)  # sent with the Messages API, oldest first
    # the <Message>s of webhook (TwiML) answers, which Twilio also logs as messages; whoever plays Twilio adds them
    replies: list[dict] = field(default_factory=list)
    media: dict[str, tuple[bytes, str, bool]] = field(default_factory=dict)
    media_requests: int = 0
    fail_sends: int = 0  # answer this many sends with a 500 first
    message_media: dict[str, dict[str, str]] = field(default_factory=dict)  # message SID → {media SID: name}
    deleted_media: list[tuple[str, str]] = field(default_factory=list)  # (message SID, media SID) deleted
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _authorised(self, request: Request, account_sid: str | None = None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        given = request.headers.get("authorization", "")
        return secrets.compare_digest(given, f"Basic {expected}") and account_sid in (None, self.account_sid)

    def add_media(self, data: bytes, content_type: str, chunked: bool = False, message_sid: str | None = None) -> str:
        """Host `data`; `chunked` sends it without a Content-Length, as some CDNs do; `message_sid`: the inbound
        message it belongs to, listed and deletable with that message's Media API. Returns its name."""
        name = secrets.token_hex(8)
        with self._lock:
            self.media[name] = (data, content_type, chunked)
            if message_sid is not None:
                self.message_media.setdefault(message_sid, {})["ME" + secrets.token_hex(16)] = name
        return name

    def record_sent(self, to: str, from_: str, body: str, at: datetime) -> str:
        """A message as if sent with the Messages API at `at` (aware), e.g. before the bot crashed; its SID."""
        with self._lock:
            return self._record(to, from_, body, at.astimezone(UTC))["sid"]

    def record_reply(self, to: str, from_: str, body: str, at: datetime) -> str:
        """A <Message> of a webhook's TwiML answer, as Twilio logs it (listed by the Messages API, not in `messages`)."""
        with self._lock:
            return self._record(to, from_, body, at.astimezone(UTC), self.replies)["sid"]

    def _record(self, to: str | None, from_: str | None, body: str | None, at: datetime, log=None) -> dict:
        message = {"sid": "SM" + secrets.token_hex(16), "to": to, "from": from_, "body": body, "at": at}
        (self.messages if log is None else log).append(message)
        return message

    def wait_for_messages(self, count: int, timeout_s: float = 10.0) -> list[dict]:
        return self._wait(lambda: self.messages, count, timeout_s, "messages reached the Messages API stand-in")

    def wait_for_deleted_media(self, count: int, timeout_s: float = 10.0) -> list[tuple[str, str]]:
        return self._wait(lambda: self.deleted_media, count, timeout_s, "media files were deleted at the stand-in")

    def _wait(self, seen, count: int, timeout_s: float, what: str) -> list:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(seen()) >= count:
                    return list(seen())
            time.sleep(0.02)
        raise TimeoutError(f"{len(seen())} of {count} {what}")

    def _message_json(self, message: dict) -> dict:
        sid, account_sid = message["sid"], self.account_sid
        return {
            "sid": sid,
            "account_sid": account_sid,
            "to": message["to"],
            "from": message["from"],
            "body": message["body"],
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": _rfc2822(message["at"]),
            "date_updated": _rfc2822(message["at"]),
            "date_sent": _rfc2822(message["at"]),  # the stand-in "sends" at once
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        }

    def app(self) -> FastAPI:
        app = FastAPI(title="STAND-IN of Twilio's Messages API and media host")

        @app.post(API + "/Messages.json")
        async def create_message(account_sid: str, request: Request) -> Response:
            if not self._authorised(request, account_sid):
                return JSONResponse(UNAUTHORISED, status_code=401)
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            with self._lock:
                if self.fail_sends > 0:
                    self.fail_sends -= 1
                    return JSONResponse({"code": 20500, "message": "stand-in failure", "status": 500}, status_code=500)
                message = self._record(form.get("To"), form.get("From"), form.get("Body"), datetime.now(UTC))
                if "ContentSid" in form:  # a template (WhatsApp outside the 24-hour window): no Body
                    message["content_sid"], message["content_variables"] = (
                        form["ContentSid"],
                        form.get("ContentVariables"),
                    )
            return JSONResponse(self._message_json(message), status_code=201)

        @app.get(API + "/Messages.json")
        async def list_messages(account_sid: str, request: Request) -> Response:
            if not self._authorised(request, account_sid):
                return JSONResponse(UNAUTHORISED, status_code=401)
            query = dict(request.query_params)
            with self._lock:
                found = [
                    self._message_json(m)
                    for m in sorted(self.messages + self.replies, key=lambda m: m["at"], reverse=True)  # newest first
                    if query.get("To", m["to"]) == m["to"]
                    and query.get("From", m["from"]) == m["from"]
                    and _sent_on(query, m["at"].date())
                ]
            return JSONResponse(_page("messages", found, request.url.path))

        @app.get(API + "/Messages/{message_sid}/Media.json")
        async def list_media(account_sid: str, message_sid: str, request: Request) -> Response:
            if not self._authorised(request, account_sid):
                return JSONResponse(UNAUTHORISED, status_code=401)
            with self._lock:
                if message_sid not in self.message_media:
                    return JSONResponse(NOT_FOUND, status_code=404)
                files = [(sid, self.media[name][1]) for sid, name in self.message_media[message_sid].items()]
            now = _rfc2822(datetime.now(UTC))
            records = [
                {
                    "sid": sid,
                    "account_sid": account_sid,
                    "parent_sid": message_sid,
                    "content_type": content_type,
                    "date_created": now,
                    "date_updated": now,
                    "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{sid}.json",
                }
                for sid, content_type in files
            ]
            return JSONResponse(_page("media_list", records, request.url.path))

        @app.delete(API + "/Messages/{message_sid}/Media/{media_sid}.json")
        async def delete_media(account_sid: str, message_sid: str, media_sid: str, request: Request) -> Response:
            if not self._authorised(request, account_sid):
                return JSONResponse(UNAUTHORISED, status_code=401)
            with self._lock:
                name = self.message_media.get(message_sid, {}).pop(media_sid, None)
                if name is None:
                    return JSONResponse(NOT_FOUND, status_code=404)
                self.media.pop(name, None)  # its URL stops working too, as at Twilio
                self.deleted_media.append((message_sid, media_sid))
            return Response(status_code=204)

        @app.get("/media/{name}")
        async def media(name: str, request: Request) -> Response:
            with self._lock:
                self.media_requests += 1
            if not self._authorised(request):
                return Response(status_code=401)
            if name not in self.media:
                return Response(status_code=404)
            data, content_type, chunked = self.media[name]
            if chunked:
                chunks = (data[i : i + 8192] for i in range(0, len(data), 8192))
                return StreamingResponse(iter(chunks), media_type=content_type)
            return Response(data, media_type=content_type)

        return app
