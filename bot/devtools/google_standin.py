"""LOCAL STAND-IN of Google's OAuth token endpoint and of the Calendar API v3 (calendars.insert / delete, events.insert /
update / delete), for tests — not the real service. It answers what `google-auth-oauthlib`, `google-auth`
and `google-api-python-client` send: form-encoded token requests, Bearer-authorised JSON calls."""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_plus

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

SCOPE = "https://www.googleapis.com/auth/calendar.app.created"
API = "/calendar/v3"


def _error(status: int, reason: str, message: str) -> JSONResponse:
    body = {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}
    return JSONResponse(body, status_code=status)


@dataclass
class GoogleStandIn:
    client_id: str
    client_secret: str
    codes: dict[str, str] = field(default_factory=dict)  # authorization code → the redirect_uri it was made for
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    calendars: dict[str, dict] = field(default_factory=dict)  # id → {summary, timeZone, events: {id: event}}
    token_requests: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def grant(self, redirect_uri: str) -> str:
        """The code Google's consent page would send to `redirect_uri` after the person agreed."""
        code = "4/" + secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = redirect_uri
        return code

    def revoke_all(self) -> None:
        """The person removed our access in their Google account."""
        with self._lock:
            self.refresh_tokens.clear()
            self.access_tokens.clear()

    def events(self, calendar_id: str) -> dict[str, dict]:
        with self._lock:
            return dict(self.calendars[calendar_id]["events"])

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        return given in self.access_tokens

    def app(self) -> FastAPI:
        app = FastAPI(title="STAND-IN of Google's token endpoint and Calendar API")

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            self.token_requests.append(form)
            client = (form.get("client_id"), form.get("client_secret"))
            basic = request.headers.get("authorization", "")
            if basic.startswith("Basic "):  # RFC 6749 2.3.1: either way, as Google takes it
                user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
                client = (unquote_plus(user), unquote_plus(password))
            if client != (self.client_id, self.client_secret):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            with self._lock:
                if form.get("grant_type") == "authorization_code":
                    if self.codes.pop(form.get("code", ""), None) != form.get("redirect_uri"):
                        return JSONResponse({"error": "invalid_grant", "error_description": "Bad code"}, 400)
                    refresh = "1//" + secrets.token_urlsafe(32)
                    self.refresh_tokens.add(refresh)
                elif form.get("grant_type") == "refresh_token":
                    refresh = None
                    if form.get("refresh_token") not in self.refresh_tokens:
                        body = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
                        return JSONResponse(body, status_code=400)
                else:
                    return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
                access = "ya29." + secrets.token_urlsafe(24)
                self.access_tokens.add(access)
            answer = {"access_token": access, "expires_in": 3599, "token_type": "Bearer", "scope": SCOPE}
            if refresh:
                answer["refresh_token"] = refresh
            return JSONResponse(answer)

        @app.post(API + "/calendars")
        async def insert_calendar(request: Request) -> Response:
            if not self._authorised(request):
                return _error(401, "authError", "Invalid Credentials")
            body = await request.json()
            calendar_id = secrets.token_hex(12) + "@group.calendar.google.com"
            with self._lock:
                self.calendars[calendar_id] = {
                    "summary": body["summary"],
                    "timeZone": body.get("timeZone"),
                    "events": {},
                }
            return JSONResponse({"kind": "calendar#calendar", "id": calendar_id, **body})

        @app.delete(API + "/calendars/{calendar_id}")
        async def delete_calendar(calendar_id: str, request: Request) -> Response:
            if not self._authorised(request):
                return _error(401, "authError", "Invalid Credentials")
            with self._lock:
                if self.calendars.pop(calendar_id, None) is None:
                    return _error(404, "notFound", "Not Found")
            return Response(status_code=204)

        @app.post(API + "/calendars/{calendar_id}/events")
        async def insert_event(calendar_id: str, request: Request) -> Response:
            if not self._authorised(request):
                return _error(401, "authError", "Invalid Credentials")
            body = await request.json()
            with self._lock:
                if calendar_id not in self.calendars:
                    return _error(404, "notFound", "Not Found")
                events = self.calendars[calendar_id]["events"]
                if body.get("id") in events:
                    return _error(409, "duplicate", "The requested identifier already exists.")
                event = {**body, "id": body.get("id") or secrets.token_hex(16), "sequence": 0}
                events[event["id"]] = event
            return JSONResponse(event)

        @app.put(API + "/calendars/{calendar_id}/events/{event_id}")
        async def update_event(calendar_id: str, event_id: str, request: Request) -> Response:
            if not self._authorised(request):
                return _error(401, "authError", "Invalid Credentials")
            body = await request.json()
            with self._lock:
                events = self.calendars.get(calendar_id, {}).get("events", {})
                if event_id not in events:
                    return _error(404, "notFound", "Not Found")
                events[event_id] = {**body, "id": event_id, "sequence": events[event_id]["sequence"] + 1}
                return JSONResponse(events[event_id])

        @app.delete(API + "/calendars/{calendar_id}/events/{event_id}")
        async def delete_event(calendar_id: str, event_id: str, request: Request) -> Response:
            if not self._authorised(request):
                return _error(401, "authError", "Invalid Credentials")
            with self._lock:
                events = self.calendars.get(calendar_id, {}).get("events", {})
                if events.pop(event_id, None) is None:
                    return _error(404, "notFound", "Not Found")
            return Response(status_code=204)

        return app
