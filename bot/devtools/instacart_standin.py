"""LOCAL STAND-IN of the Instacart Developer Platform for tests and the demo — not the real service.

`InstacartStandIn` answers `POST /idp/v1/products/products_link` (create a shopping list page) as the real API
does: an `Authorization: Bearer <API key>` header, a JSON body {title, link_type, line_items: [{name, display_text,
line_item_measurements: [{quantity, unit}]}], ...}, answered with {"products_link_url": ...}. It checks what the
real one requires (a title, at least one line item with a name, positive quantities in units it knows) and keeps
every accepted body in `requests`. `fail_with` makes it answer that status instead (an outage).
"""

from __future__ import annotations

import itertools
import threading

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bot.plans.grocery import PRODUCTS_LINK_PATH

# Instacart's units of measurement, as the API docs list them (the ones a shopping list uses).
UNITS = frozenset(
    [
        *("each", "package", "packages", "packet", "can", "cans", "bunch", "head"),
        *("g", "gram", "grams", "kg", "kilogram", "kilograms", "oz", "ounce", "ounces", "lb", "lbs", "pound", "pounds"),
        *("ml", "milliliter", "l", "liter", "cup", "cups", "tablespoon", "teaspoon"),
    ]
)
PAGE_URL = "https://customers.dev.instacart.tools/store/shopping_lists/{n}"


def _problems(body: object) -> list[str]:
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems = []
    if not isinstance(body.get("title"), str) or not body["title"].strip():
        problems.append("title is required")
    if body.get("link_type", "shopping_list") not in ("shopping_list", "recipe"):
        problems.append(f"link_type {body.get('link_type')!r} is not shopping_list or recipe")
    items = body.get("line_items")
    if not isinstance(items, list) or not items:
        return [*problems, "line_items must be a non-empty array"]
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            problems.append(f"line_items[{i}].name is required")
            continue
        for measure in item.get("line_item_measurements", []):
            quantity, unit = measure.get("quantity"), measure.get("unit")
            if not isinstance(quantity, int | float) or quantity <= 0:
                problems.append(f"line_items[{i}] quantity {quantity!r} is not a positive number")
            if unit not in UNITS:
                problems.append(f"line_items[{i}] unit {unit!r} is not a known unit of measurement")
    return problems


class InstacartStandIn:
    def __init__(self, api_key: str):
        self.api_key = api_key
        self.requests: list[dict] = []
        self.refused = 0
        self.fail_with: int | None = None
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post(PRODUCTS_LINK_PATH)
        async def products_link(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                with self._lock:
                    self.refused += 1
                return JSONResponse({"error": {"message": "Unauthorized", "code": 401}}, status_code=401)
            if self.fail_with is not None:
                return JSONResponse({"error": {"message": "unavailable", "code": self.fail_with}}, self.fail_with)
            try:
                body = await request.json()
            except ValueError:
                body = None
            if problems := _problems(body):
                return JSONResponse({"error": {"message": "; ".join(problems), "code": 400}}, status_code=400)
            with self._lock:
                self.requests.append(body)
                number = next(self._numbers)
            return JSONResponse({"products_link_url": PAGE_URL.format(n=number)})

        return app
