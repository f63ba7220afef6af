"""`GET /calendar/google/callback`: where Google's consent page sends the person back (`code`, `state`); the grant
is kept (`GoogleCalendar.connect`) and the week synced at once. The page says what happened, never why in detail."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot.calendar.google import CALLBACK_PATH, GoogleCalendar, GoogleRevoked, GoogleUnavailable, StateRefused
from bot.storage.protocols import off_loop
from bot.storage.records import utcnow

log = logging.getLogger(__name__)
router = APIRouter()
_PAGE = "<!doctype html><meta charset=utf-8><title>Meal plan calendar</title><p>{}</p>"


@router.get(CALLBACK_PATH)
async def google_callback(request: Request, state: str = "", code: str = "", error: str = "") -> HTMLResponse:
    google: GoogleCalendar | None = getattr(request.app.state, "google", None)
    if google is None:
        return HTMLResponse(_PAGE.format("Google Calendar is not set up here."), status_code=404)
    if error or not code:
        return HTMLResponse(_PAGE.format("Google Calendar was not connected. You can close this page."), 400)
    now = utcnow()
    try:
        user_id = await off_loop(google.connect, state, code, now)
    except StateRefused as exc:
        log.warning("Google callback refused: %s", exc)
        return HTMLResponse(_PAGE.format("This link is not valid any more: ask the bot again."), status_code=400)
    except GoogleUnavailable as exc:
        log.error("Google callback failed: %s", exc)
        return HTMLResponse(_PAGE.format("Google did not answer as expected: please try again."), status_code=502)
    try:
        await off_loop(google.sync, user_id, now)
    except (GoogleRevoked, GoogleUnavailable) as exc:  # connected; the scheduler's next pass tries again
        log.warning("first Google sync of user %s failed: %s", user_id, exc)
    return HTMLResponse(_PAGE.format("Connected: your meal plan is in the calendar “Meal plan”. Close this page."))
