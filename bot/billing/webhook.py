"""`POST /stripe/webhook`: the raw body checked with the library's own signature verification (the endpoint's
signing secret, `stripe_webhook_tolerance_s`), then applied; and `GET /billing/return`, where Checkout and the
Portal send people back.

Answers: 400 for a bad signature or body (logged without the payload), 500 when Stripe could not be read back
(Stripe retries), 503 when billing is not configured, else 200, also for events about nobody we know.
"""

from __future__ import annotations

import logging

import stripe
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.background import BackgroundTask

from bot.billing.checkout import RETURN_PATH, BillingUnavailable
from bot.billing.service import Billing
from bot.channel.webhook import BodyTooLarge, capped_body
from bot.storage.protocols import off_loop

log = logging.getLogger(__name__)
router = APIRouter()
STRIPE_WEBHOOK_PATH = "/stripe/webhook"
MAX_EVENT_BYTES = 512 * 1024  # Stripe's events are a few KB; an invoice with many lines stays far below this


@router.post(STRIPE_WEBHOOK_PATH)
async def stripe_webhook(request: Request) -> Response:
    billing: Billing = request.app.state.billing
    secret = billing.settings.stripe_webhook_secret.get_secret_value()
    if billing.events is None or not secret:
        log.error("Stripe webhook called but billing is off (BOT_STRIPE_SECRET_KEY / BOT_STRIPE_WEBHOOK_SECRET unset)")
        return JSONResponse({"error": "billing is not configured"}, status_code=503)
    try:
        body = await capped_body(request, MAX_EVENT_BYTES)
        event = billing.gateway.client.construct_event(
            body, request.headers.get("stripe-signature"), secret, billing.settings.stripe_webhook_tolerance_s
        )
    except stripe.SignatureVerificationError:
        log.warning(
            "Stripe webhook refused: bad or missing signature (%s bytes)", request.headers.get("content-length")
        )
        return JSONResponse({"error": "bad signature"}, status_code=400)
    except (BodyTooLarge, ValueError) as exc:  # not JSON, or not a Stripe event
        log.warning("Stripe webhook refused: %s", type(exc).__name__)
        return JSONResponse({"error": "bad body"}, status_code=400)
    data = event.to_dict()
    if not {"id", "type", "created", "data"} <= data.keys():
        log.warning("Stripe webhook refused: a signed body that is not an event")
        return JSONResponse({"error": "not an event"}, status_code=400)
    try:
        outcome = await off_loop(billing.events.handle, data)
    except BillingUnavailable as exc:
        log.error("Stripe event %s (%s) not applied, Stripe will retry: %s", data["id"], data["type"], exc)
        return JSONResponse({"error": "subscription could not be read"}, status_code=500)
    log.info("Stripe event %s (%s): %s", data["id"], data["type"], outcome.result)
    notices = outcome.applied.notices if outcome.applied else ()
    send = BackgroundTask(billing.delivery.deliver, notices) if notices else None  # after Stripe has its answer
    return JSONResponse({"received": True, "result": outcome.result}, background=send)


@router.get(RETURN_PATH)
async def billing_return() -> Response:
    return PlainTextResponse("Thanks! You can close this page and go back to the chat.")
