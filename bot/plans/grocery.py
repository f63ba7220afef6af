"""Grocery cart links for a shopping list: Instacart (a shopping-list page made through the Developer Platform API)
and Amazon Fresh (a search link with an affiliate tag), each off unless configured. People only ever get our
short link `/r/{id}`, which records the click and redirects to the provider's page.

Instacart: `POST {base}/idp/v1/products/products_link` with `Authorization: Bearer <key>` and
{title, link_type: "shopping_list", line_items: [{name, display_text, line_item_measurements: [{quantity, unit}]}],
landing_page_configuration: {partner_linkback_url}} answers {products_link_url} (docs.instacart.com,
developer_platform_api/api/products/create_shopping_list_page; the LineItem's own quantity/unit are deprecated).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from urllib.parse import urlencode

import httpx

from bot.settings import BotSettings
from bot.storage.protocols import PlanStore

log = logging.getLogger(__name__)
PRODUCTS_LINK_PATH = "/idp/v1/products/products_link"
LINK_PATH = "/r/{id}"


class ProviderError(RuntimeError):
    """A provider could not make its page; the list goes without its link."""


class Provider(Protocol):
    name: str

    def cart_url(self, lines: Sequence, title: str) -> str: ...


class Instacart:
    name = "instacart"

    def __init__(self, base_url: str, api_key: str, timeout_s: float, linkback_url: str):
        self.url = base_url.rstrip("/") + PRODUCTS_LINK_PATH
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.linkback_url = linkback_url

    def body(self, lines: Sequence, title: str) -> dict:
        items = [
            {
                "name": line.item,
                "display_text": f"{line.item} ({line.packs} x {line.pack_label})",
                # what the week needs, and the packs we priced it as: Instacart picks the measure that fits the
                # store's products
                "line_item_measurements": [
                    {"quantity": max(1, round(line.grams)), "unit": "g"},
                    {"quantity": line.packs, "unit": "package"},
                ],
            }
            for line in lines
        ]
        return {
            "title": title,
            "link_type": "shopping_list",
            "line_items": items,
            "landing_page_configuration": {"partner_linkback_url": self.linkback_url},
        }

    def cart_url(self, lines: Sequence, title: str) -> str:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        try:
            response = httpx.post(self.url, json=self.body(lines, title), headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise ProviderError(f"Instacart unreachable at {self.url}: {exc!r}") from exc
        if response.status_code != 200:
            raise ProviderError(f"Instacart answered {response.status_code}: {response.text[:300]}")
        try:
            url = response.json()["products_link_url"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(f"Instacart's answer has no products_link_url: {response.text[:300]}") from exc
        if not isinstance(url, str) or not url.startswith("https://"):
            raise ProviderError(f"Instacart's products_link_url is not an https URL: {url!r}")
        return url


class AmazonFresh:
    name = "amazon_fresh"
    SEARCH = "https://www.amazon.com/s"

    def __init__(self, tag: str):
        self.tag = tag

    def cart_url(self, lines: Sequence, title: str) -> str:
        query = {"k": ", ".join(line.item for line in lines), "i": "amazonfresh", "tag": self.tag}
        return f"{self.SEARCH}?{urlencode(query)}"


def providers_of(settings: BotSettings) -> list[Provider]:
    """The providers configured: none by default."""
    found: list[Provider] = []
    key = settings.instacart_api_key.get_secret_value()
    if key:
        found.append(Instacart(settings.instacart_base_url, key, settings.instacart_timeout_s, settings.public_url))
    if settings.amazon_fresh_tag:
        found.append(AmazonFresh(settings.amazon_fresh_tag))
    return found


def basis(lines: Sequence) -> str:
    """What a cart holds, as a digest: the same list reuses its links (Instacart asks to cache its pages)."""
    content = sorted((line.item, line.packs, line.pack_label) for line in lines)
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


class GroceryLinks:
    def __init__(self, store: PlanStore, settings: BotSettings, providers: Sequence[Provider] | None = None):
        self.store = store
        self.public_url = settings.public_url
        self.providers = list(providers_of(settings) if providers is None else providers)

    def links(self, user_id: int, plan_id: int, lines: Sequence, now: datetime) -> list[tuple[str, str]]:
        """(provider, our short URL) for each provider that could make a page of `lines`; blocking (HTTP)."""
        if not lines:
            return []
        digest, found = basis(lines), []
        for provider in self.providers:
            link = self.store.short_link(user_id, plan_id, provider.name, digest)
            if link is None:
                try:
                    target = provider.cart_url(lines, "Your meal plan's shopping list")
                except ProviderError as exc:
                    log.warning("no %s link for plan %s: %s", provider.name, plan_id, exc)
                    continue
                link = self.store.add_short_link(user_id, plan_id, provider.name, target, digest, now)
            found.append((provider.name, self.public_url + LINK_PATH.format(id=link.id)))
        return found
