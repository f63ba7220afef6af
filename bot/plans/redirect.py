"""`GET /r/{id}`: our short link to a grocery provider's page. Redirects (302) and records the click as an event
(`link_click`: user, plan, provider) for affiliate reports; an unknown id is a 404. The id is random and names
no one. Chat apps fetch a link to preview it: those fetches are recorded as `link_preview`, not as clicks."""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from bot.storage.protocols import off_loop
from bot.storage.records import utcnow

log = logging.getLogger(__name__)
router = APIRouter()
_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")  # secrets.token_urlsafe(16): 22 characters
PREVIEWERS = ("whatsapp", "facebookexternalhit", "facebot", "twitterbot", "slackbot", "telegrambot", "discordbot")


@router.get("/r/{link_id}")
async def follow(link_id: str, request: Request) -> Response:
    store = request.app.state.store
    link = await off_loop(store.get_short_link, link_id) if _ID.fullmatch(link_id) else None
    if link is None:
        return PlainTextResponse("No such link.", status_code=404)
    agent = request.headers.get("user-agent", "").lower()
    kind = "link_preview" if any(name in agent for name in PREVIEWERS) else "link_click"
    detail = {"plan_id": link.plan_id, "provider": link.provider, "link": link.id}
    try:
        await off_loop(store.add_event, kind, utcnow(), None, link.user_id, detail=detail)
    except Exception:  # the person still gets their cart; the lost count is in the log
        log.exception("could not record a %s of link %s", kind, link.id)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return RedirectResponse(link.target, status_code=302, headers=headers)
