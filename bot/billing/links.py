"""Our signed links to Stripe Checkout and the Customer Portal: `GET /billing/checkout` and `GET /billing/portal`
create the Stripe session when the person opens the link and redirect (303) to it.

So a chat reply never waits on Stripe (the conversation runs inside a database transaction), an outage of Stripe
only affects the click, and a link stays valid for `billing_link_ttl_s` whereas a Checkout Session URL lasts a day.
A link is signed (HMAC with the reference key) over what it does, whose it is and when it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse

from bot.billing.checkout import BillingUnavailable
from bot.storage.protocols import off_loop
from bot.storage.records import utcnow

log = logging.getLogger(__name__)
router = APIRouter()
CHECKOUT_PATH, PORTAL_PATH = "/billing/checkout", "/billing/portal"
EXPIRED = "This link has expired. Send upgrade (or billing) in the chat for a new one."
BROKEN = "This link is not valid. Send upgrade (or billing) in the chat for a new one."
DOWN = "The payment service can't be reached just now. Please try again in a few minutes."


def _signature(key: bytes, action: str, user_id: int, tier: str, expires: int) -> str:
    message = f"{action}|{user_id}|{tier}|{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def signed_link(
    public_url: str, key: bytes, action: str, user_id: int, now: datetime, ttl_s: float, tier: str = ""
) -> str:
    """`action`: checkout (of `tier`), portal, or cancel (the Portal on the subscription's cancellation)."""
    expires = int(now.timestamp() + ttl_s)
    query = {"u": user_id, "a": action, "t": tier, "e": expires, "s": _signature(key, action, user_id, tier, expires)}
    path = CHECKOUT_PATH if action == "checkout" else PORTAL_PATH
    return f"{public_url}{path}?{urlencode(query)}"


def _verified(request: Request, key: bytes, now: datetime) -> tuple[str, int, str] | str:
    """(action, user id, tier) of a genuine, unexpired link; else the text to show."""
    q = request.query_params
    user_id, expires = q.get("u", ""), q.get("e", "")
    if not (user_id.isdigit() and expires.isdigit()):
        return BROKEN
    action, tier = q.get("a", ""), q.get("t", "")
    expected = _signature(key, action, int(user_id), tier, int(expires))
    if not hmac.compare_digest(expected, q.get("s", "")):
        return BROKEN
    if now.timestamp() > int(expires):
        return EXPIRED
    return action, int(user_id), tier


def _session_url(billing, action: str, user_id: int, tier: str) -> str | None:
    """Create the Stripe session the link stands for (blocking); None when there is nothing to open."""
    try:
        user = billing.store.get_user(user_id)
    except KeyError:
        return None  # deleted since
    sub = billing.store.subscription(user_id)
    customer = sub.stripe_customer_id if sub else None
    if action == "checkout":
        return billing.gateway.checkout_url(user, tier, customer)
    if customer is None:
        return None
    cancelling = sub.stripe_subscription_id if action == "cancel" else None
    return billing.gateway.portal_url(customer, cancel_subscription=cancelling)


async def _open(request: Request) -> Response:
    billing = request.app.state.billing
    if billing.gateway is None:
        return PlainTextResponse(DOWN, status_code=503)
    verified = _verified(request, billing.gateway.reference_key, utcnow())
    if isinstance(verified, str):
        return PlainTextResponse(verified, status_code=410 if verified == EXPIRED else 404)
    try:
        url = await off_loop(_session_url, billing, *verified)
    except BillingUnavailable as exc:
        log.error("billing link %s for user %s: %s", verified[0], verified[1], exc)
        return PlainTextResponse(DOWN, status_code=503)
    if url is None:
        return PlainTextResponse(BROKEN, status_code=404)
    return RedirectResponse(url, status_code=303)


router.add_api_route(CHECKOUT_PATH, _open, methods=["GET"])
router.add_api_route(PORTAL_PATH, _open, methods=["GET"])
