"""`POST /twilio/webhook`: check Twilio's signature against the public URL, then hand the message over."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from bot.channel.service import BadWebhook, BotService, Inbound
from bot.settings import WEBHOOK_PATH, BotSettings

log = logging.getLogger(__name__)
router = APIRouter()


def signed_url(settings: BotSettings, path: str, query: str) -> str:
    """The URL Twilio signed: the configured public one, whatever Host a proxy handed us."""
    return settings.public_url + path + (f"?{query}" if query else "")


def signature_ok(settings: BotSettings, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    signature = headers.get(SIGNATURE_HEADER)
    if not signature:
        return False
    signing = headers.get(SIGNATURE_SETTINGS_HEADER)
    secret = (settings.twilio_webhook_shared_key if signing else settings.twilio_auth_token).get_secret_value()
    if not secret:  # an empty key would make every signature forgeable
        return False
    return RequestValidator(secret).validate(url, dict(params), signature, get_signature_algorithm(signing))


@router.post(WEBHOOK_PATH)
async def twilio_webhook(request: Request) -> Response:
    settings: BotSettings = request.app.state.settings
    service: BotService = request.app.state.service
    body = (await request.body()).decode("utf-8", errors="replace")
    params = dict(parse_qsl(body, keep_blank_values=True))
    url = signed_url(settings, request.url.path, request.url.query)
    if not signature_ok(settings, url, params, request.headers):
        client = request.client.host if request.client else "?"
        reason = "missing" if SIGNATURE_HEADER not in request.headers else "invalid"
        log.warning(
            "refused webhook from %s: %s X-Twilio-Signature for %s (MessageSid=%s)",
            client,
            reason,
            url,
            params.get("MessageSid"),
        )
        return Response(status_code=403)
    try:
        inbound = Inbound.from_form(params)
    except BadWebhook as exc:
        log.warning("refused signed webhook: %s", exc)
        return Response(str(exc), status_code=400)
    answer = await service.handle(inbound)
    return Response(answer, media_type="application/xml")
