"""The bot sends the model server's bearer token (BOT_SERVING_TOKEN), and a refused token is a setting to fix,
not a bad photo."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.photos.analysis_client import AnalysisClient, AnalysisUnavailable, PhotoRejected
from bot.settings import BotSettings

ANSWER = {"items": [], "totals": {"grams": 0, "kcal": 0, "protein_g": 0, "fat_g": 0, "carbs_g": 0}}


def _server(token: str | None, seen: list[httpx.Request]) -> httpx.MockTransport:
    """A stand-in model server that wants `Authorization: Bearer <token>` when `token` is set."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if token and request.headers.get("authorization") != f"Bearer {token}":
            return httpx.Response(401, json={"detail": "missing or wrong bearer token"})
        return httpx.Response(200, json=ANSWER)

    return httpx.MockTransport(handle)


def _analyze(client_token: str, server_token: str | None):
    seen: list[httpx.Request] = []

    async def run():
        async with httpx.AsyncClient(transport=_server(server_token, seen)) as http:
            return await AnalysisClient("http://models", 5, http, token=client_token).analyze(b"jpeg", "image/jpeg")

    return asyncio.run(run()), seen


def test_the_token_is_sent_as_a_bearer():
    analysis, seen = _analyze("s3cr3t", "s3cr3t")
    assert analysis.items == [] and seen[0].headers["authorization"] == "Bearer s3cr3t"


def test_no_token_sends_no_authorization_header():
    _, seen = _analyze("", None)
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize("client_token", ["", "wrong"])
def test_a_refused_token_is_unavailable_not_a_rejected_photo(client_token):
    with pytest.raises(AnalysisUnavailable, match="401") as info:
        _analyze(client_token, "s3cr3t")
    assert not isinstance(info.value, PhotoRejected)


def test_the_setting(monkeypatch):
    monkeypatch.setenv("BOT_SERVING_TOKEN", "from-env")
    assert BotSettings().serving_token.get_secret_value() == "from-env"
    monkeypatch.delenv("BOT_SERVING_TOKEN")
    settings = BotSettings()
    assert settings.serving_token.get_secret_value() == "" and "from-env" not in repr(settings)
