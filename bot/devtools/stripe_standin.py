"""LOCAL STAND-IN of Stripe for tests and the demo — not the real service.

`StripeStandIn.app()` answers the API calls the bot makes, as the real `stripe` client sends them (form-encoded,
nested keys as `line_items[0][price]`, `Authorization: Bearer sk_test_...`) and parses them (objects with `id` and
`object`, errors as `{"error": {type, code, message}}`): Checkout Sessions and Portal sessions (create),
subscriptions (retrieve, cancel). Subscriptions have the API's current shape: their periods are on their items.

What a person and Stripe's billing do is driven from Python (`complete_checkout`, `fail_payment`, `pay`,
`schedule_cancel`, `end`): each changes the state the API serves and returns the events Stripe would send, which
`webhook_request` signs with the library's own helper, as Stripe signs its deliveries.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import stripe
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

MONTH_S = 30 * 24 * 3600


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def nested(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding back to data: `a[b][0][c]=v` → {"a": {"b": [{"c": "v"}]}}."""
    root: dict = {}
    for key, value in pairs:
        path = re.findall(r"[^\[\]]+", key)
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value

    def lists(node):
        if not isinstance(node, dict):
            return node
        if node and all(k.isdigit() for k in node):
            return [lists(node[k]) for k in sorted(node, key=int)]
        return {k: lists(v) for k, v in node.items()}

    return lists(root)


def _error(status: int, message: str, code: str | None = None, kind: str = "invalid_request_error") -> Response:
    return JSONResponse({"error": {"type": kind, "code": code, "message": message}}, status_code=status)


def webhook_request(event: dict, secret: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery of `event`, signed with `stripe.WebhookSignature` as Stripe signs it."""
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
    return body.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


@dataclass
class StripeStandIn:
    secret_key: str
    prices: tuple[str, ...]  # the price ids that exist
    base_url: str = "http://127.0.0.1"  # where Checkout and Portal pages are said to be (set once serving)
    sessions: dict[str, dict] = field(default_factory=dict)
    portal_sessions: list[dict] = field(default_factory=list)
    customers: dict[str, dict] = field(default_factory=dict)
    subscriptions: dict[str, dict] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every API call
    unavailable: bool = False  # answer every API call with a 500
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what people and Stripe's billing do, each returning the events Stripe would send
    def event(self, event_type: str, obj: dict, created: int | None = None, previous: dict | None = None) -> dict:
        data = {"object": json.loads(json.dumps(obj))}  # a snapshot, as Stripe's payloads are
        if previous is not None:
            data["previous_attributes"] = previous
        return {
            "id": _id("evt"),
            "object": "event",
            "api_version": stripe.api_version,
            "created": created or int(time.time()),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": data,
        }

    def complete_checkout(self, session_id: str, at: int | None = None) -> list[dict]:
        """The person pays: a customer (unless the session named one) and an active subscription of the session's
        price. Events in the order Stripe often sends them: the subscription before the session."""
        at = at or int(time.time())
        with self._lock:
            session = self.sessions[session_id]
            customer = session.get("customer") or self._customer(at)["id"]
            subscription = self._subscription(customer, session, at)
            session.update(status="complete", payment_status="paid", customer=customer, subscription=subscription["id"])
            created = self.event("customer.subscription.created", subscription, at)
            public = {key: value for key, value in session.items() if key not in _INTERNAL}
            completed = self.event("checkout.session.completed", public, at)
            paid = self.event("invoice.paid", self._invoice(subscription, "paid", at), at)
        return [created, completed, paid]

    def fail_payment(self, subscription_id: str, at: int | None = None) -> list[dict]:
        return self._change(subscription_id, at, {"status": "past_due"}, ("invoice.payment_failed", "open"))

    def pay(self, subscription_id: str, at: int | None = None) -> list[dict]:
        return self._change(subscription_id, at, {"status": "active"}, ("invoice.paid", "paid"))

    def schedule_cancel(self, subscription_id: str, at: int | None = None) -> list[dict]:
        """Cancelled in the Portal: it runs to the end of the period."""
        return self._change(subscription_id, at, {"cancel_at_period_end": True})

    def set_price(self, subscription_id: str, price: str, at: int | None = None) -> list[dict]:
        with self._lock:
            self.subscriptions[subscription_id]["items"]["data"][0]["price"] = {"id": price, "object": "price"}
        return self._change(subscription_id, at, {})

    def end(self, subscription_id: str, at: int | None = None) -> list[dict]:
        """Cancelled for good (period over, payments given up, or cancelled now)."""
        at = at or int(time.time())
        with self._lock:
            subscription = self.subscriptions[subscription_id]
            subscription.update(status="canceled", canceled_at=at, ended_at=at)
            return [self.event("customer.subscription.deleted", subscription, at)]

    def _change(self, subscription_id: str, at: int | None, changes: dict, invoice: tuple | None = None) -> list:
        at = at or int(time.time())
        with self._lock:
            subscription = self.subscriptions[subscription_id]
            previous = {key: subscription.get(key) for key in changes}
            subscription.update(changes)
            events = []
            if invoice is not None:
                events.append(self.event(invoice[0], self._invoice(subscription, invoice[1], at), at))
            events.append(self.event("customer.subscription.updated", subscription, at, previous))
            return events

    # --- objects
    def _customer(self, at: int) -> dict:
        customer = {"id": _id("cus"), "object": "customer", "created": at, "metadata": {}}
        self.customers[customer["id"]] = customer
        return customer

    def _subscription(self, customer: str, session: dict, at: int) -> dict:
        subscription_id = _id("sub")
        item = {
            "id": _id("si"),
            "object": "subscription_item",
            "price": {"id": session["line_items"][0]["price"], "object": "price"},
            "quantity": 1,
            "current_period_start": at,
            "current_period_end": at + MONTH_S,
        }
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "customer": customer,
            "status": "active",
            "created": at,
            "start_date": at,
            "cancel_at_period_end": False,
            "cancel_at": None,
            "canceled_at": None,
            "ended_at": None,
            "livemode": False,
            "metadata": session.get("subscription_data", {}).get("metadata", {}),
            "items": {"object": "list", "data": [item], "has_more": False, "url": "/v1/subscription_items"},
        }
        self.subscriptions[subscription_id] = subscription
        return subscription

    def _invoice(self, subscription: dict, status: str, at: int) -> dict:
        details = {"subscription": subscription["id"], "metadata": subscription["metadata"]}
        return {
            "id": _id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "status": status,
            "created": at,
            "parent": {"type": "subscription_details", "subscription_details": details, "quote_details": None},
        }

    # --- the API
    def app(self) -> FastAPI:
        app = FastAPI(title="STAND-IN of the Stripe API calls of plate-coach")

        @app.middleware("http")
        async def authorised(request: Request, call_next):
            if not request.url.path.startswith("/v1/"):
                return await call_next(request)
            with self._lock:
                self.requests.append((request.method, request.url.path))
            given = request.headers.get("authorization", "")
            if not secrets.compare_digest(given, f"Bearer {self.secret_key}"):
                return _error(401, "Invalid API Key provided")
            if self.unavailable:
                return _error(500, "stand-in outage", kind="api_error")
            return await call_next(request)

        async def form(request: Request) -> dict:
            return nested(parse_qsl((await request.body()).decode(), keep_blank_values=True))

        @app.post("/v1/checkout/sessions")
        async def create_session(request: Request) -> Response:
            params = await form(request)
            items = params.get("line_items") or []
            if params.get("mode") != "subscription" or not params.get("success_url") or len(items) != 1:
                return _error(400, "mode=subscription, success_url and one line item are required", "parameter_missing")
            if items[0].get("price") not in self.prices:
                return _error(400, f"No such price: '{items[0].get('price')}'", "resource_missing")
            if params.get("customer") and params["customer"] not in self.customers:
                return _error(400, f"No such customer: '{params['customer']}'", "resource_missing")
            session_id = _id("cs")
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": "subscription",
                "status": "open",
                "payment_status": "unpaid",
                "url": f"{self.base_url}/checkout/{session_id}",
                "customer": params.get("customer"),
                "subscription": None,
                "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata", {}),
                "success_url": params["success_url"],
                "cancel_url": params.get("cancel_url"),
            }
            with self._lock:
                self.sessions[session_id] = {**session, "line_items": items, **_kept(params)}
            return JSONResponse(session)

        @app.post("/v1/billing_portal/sessions")
        async def create_portal(request: Request) -> Response:
            params = await form(request)
            if params.get("customer") not in self.customers:
                return _error(400, f"No such customer: '{params.get('customer')}'", "resource_missing")
            portal_id = _id("bps")
            portal = {
                "id": portal_id,
                "object": "billing_portal.session",
                "customer": params["customer"],
                "return_url": params.get("return_url"),
                "flow": params.get("flow_data"),
                "url": f"{self.base_url}/portal/{portal_id}",
            }
            with self._lock:
                self.portal_sessions.append(portal)
            return JSONResponse(portal)

        @app.get("/v1/subscriptions/{subscription_id}")
        async def get_subscription(subscription_id: str) -> Response:
            with self._lock:
                found = json.loads(json.dumps(self.subscriptions.get(subscription_id)))
            if found is None:
                return _error(404, f"No such subscription: '{subscription_id}'", "resource_missing")
            return JSONResponse(found)

        @app.delete("/v1/subscriptions/{subscription_id}")
        async def cancel_subscription(subscription_id: str) -> Response:
            with self._lock:
                found = self.subscriptions.get(subscription_id)
                if found is None:
                    return _error(404, f"No such subscription: '{subscription_id}'", "resource_missing")
                now = int(time.time())
                found.update(status="canceled", canceled_at=now, ended_at=now)
                return JSONResponse(found)

        @app.get("/checkout/{session_id}")
        async def checkout_page(session_id: str) -> Response:
            return HTMLResponse(f"<h1>STAND-IN Checkout {session_id}</h1>", 200 if session_id in self.sessions else 404)

        @app.get("/portal/{portal_id}")
        async def portal_page(portal_id: str) -> Response:
            return HTMLResponse(f"<h1>STAND-IN Customer Portal {portal_id}</h1>")

        return app


_INTERNAL = ("line_items", "subscription_data")  # what a session keeps for the subscription it makes (not shown)


def _kept(params: dict) -> dict:
    return {"subscription_data": params.get("subscription_data", {})}
