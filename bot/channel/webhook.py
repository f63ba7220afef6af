"""`POST /twilio/webhook`: cap the body, check Twilio's signature against the public URL, then hand the message over."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.background import BackgroundTask
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from bot.channel.inbound import BadWebhook, Inbound
from bot.channel.service import BotService
from bot.settings import WEBHOOK_PATH, BotSettings

log = logging.getLogger(__name__)
router = APIRouter()


class BodyTooLarge(ValueError):
    """The request body is over `webhook_max_bytes` (Twilio's form posts are a few KB)."""

    def __init__(self, size: int, cap: int, declared: bool):
        how = "declares" if declared else "sent at least"
        super().__init__(f"body {how} {size} bytes, over the {cap}-byte cap")


async def capped_body(request: Request, cap: int) -> bytes:
    """The body, refused at once when its Content-Length is over `cap`, and while streaming when it grows past
    it: a chunked upload has no Content-Length, and must not make us hold more than `cap` bytes either."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge(int(declared), cap, declared=True)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge(size, cap, declared=False)
        chunks.append(chunk)
    return b"".join(chunks)


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
    ops = getattr(request.app.state, "ops", None)  # bot.ops: the latency histogram, by outcome
    if ops is None:
        return (await _answer(request))[0]
    with ops.metrics.webhook() as timing:
        response, timing["outcome"] = await _answer(request)
    return response


async def _answer(request: Request) -> tuple[Response, str]:
    """The response, and its outcome for the metrics."""
    arrived = asyncio.get_running_loop().time()
    settings: BotSettings = request.app.state.settings
    service: BotService = request.app.state.service
    try:
        raw = await capped_body(request, settings.webhook_max_bytes)
    except BodyTooLarge as exc:
        client = request.client.host if request.client else "?"
        log.warning("refused webhook from %s: %s", client, exc)  # never the body: it is not verified
        return Response(status_code=413), "refused_size"
    body = raw.decode("utf-8", errors="replace")
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
        return Response(status_code=403), "refused_signature"
    try:
        inbound = Inbound.from_form(params)
    except BadWebhook as exc:
        log.warning("refused signed webhook: %s", exc)
        return Response(str(exc), status_code=400), "bad_request"
    answer = await service.handle(inbound, arrived)
    # the outbox rows this answer carries are marked delivered only once it has been sent (and in time)
    after = BackgroundTask(service.answered, answer.delivered, arrived) if answer.delivered else None
    return Response(answer.twiml, media_type="application/xml", background=after), answer.outcome
