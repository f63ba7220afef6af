"""Fixtures of the bot tests: the real bot app under uvicorn on 127.0.0.1, talking over real HTTP to LOCAL
STAND-INS of the model server (/analyze contract) and of Twilio (Messages API + media host).

Imported by the tests/test_bot_*.py modules (`from bot_fixtures import *`), not by conftest.py.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bot.settings import WEBHOOK_PATH, BotSettings
from bot.simulate import new_sid, reply_texts, signed, twilio_form
from bot.sql_store import SqlStore
from bot.standins import ModelServerStandIn, ServerThread, TwilioStandIn

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "1" * 32
# What Twilio calls; the bot itself listens on 127.0.0.1:<port>, as behind a proxy that rewrites the host.
PUBLIC_URL = "https://bot.example.test"
BOT_NUMBER = "+14155238886"
ALICE = "+15550001"


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


@dataclass
class Running:
    standin: ModelServerStandIn | TwilioStandIn
    server: ServerThread

    @property
    def url(self) -> str:
        return self.server.url


@dataclass
class BotHarness:
    settings: BotSettings
    server: ServerThread
    model: Running | None
    twilio: Running
    store: SqlStore

    @property
    def webhook(self) -> str:
        return self.server.url + WEBHOOK_PATH

    def media_url(self, data: bytes, content_type: str = "image/jpeg", chunked: bool = False) -> tuple[str, str]:
        return f"{self.twilio.url}/media/{self.twilio.standin.add_media(data, content_type, chunked)}", content_type

    def form(self, body: str = "", photos: list[tuple[str, str]] = (), sender: str = ALICE, sid: str | None = None,
             sms: bool = False) -> dict[str, str]:  # fmt: skip
        prefix = "" if sms else "whatsapp:"
        return twilio_form(sid or new_sid(), prefix + sender, prefix + BOT_NUMBER, body, list(photos), ACCOUNT_SID)

    def post(self, form: dict[str, str], timeout: float = 20.0, **kwargs) -> httpx.Response:
        body, headers = signed(form, PUBLIC_URL, AUTH_TOKEN)
        return httpx.post(self.webhook, content=body, headers=headers, timeout=timeout, trust_env=False, **kwargs)

    def send(self, body: str = "", photos: list[tuple[str, str]] = (), **kwargs) -> list[str]:
        """Post a signed message; return the reply texts (asserting a 200)."""
        response = self.post(self.form(body, photos, **kwargs))
        assert response.status_code == 200, response.text
        return reply_texts(response.text)

    def send_photo(self, data: bytes | None = None, **kwargs) -> list[str]:
        return self.send(photos=[self.media_url(data or jpeg_bytes())], **kwargs)

    def user_id(self, phone: str = ALICE) -> int:
        return self.store.get_or_create_user(phone, "free", "UTC").id

    def event_kinds(self, sid: str) -> list[str]:
        return [e.kind for e in self.store.events(sid)]


@pytest.fixture
def model_server():
    standin = ModelServerStandIn()
    server = ServerThread(standin.app()).start()
    yield Running(standin, server)
    server.stop()


@pytest.fixture
def twilio_api():
    standin = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN)
    server = ServerThread(standin.app()).start()
    yield Running(standin, server)
    server.stop()


def bot_settings(database: Path, model_url: str, twilio_url: str, **overrides) -> BotSettings:
    values = dict(
        public_url=PUBLIC_URL, database_url=f"sqlite:///{database}", twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN, twilio_api_base_url=twilio_url, serving_url=model_url,
        reply_budget_s=5.0, analyze_timeout_s=5.0, media_timeout_s=5.0, retry_base_s=0.2, retry_max_s=1.0,
        retry_poll_s=0.05, lease_s=30.0,
    )  # fmt: skip
    values.update(overrides)
    return BotSettings(**values)


@pytest.fixture
def make_bot(tmp_path, model_server, twilio_api):
    """`make_bot(**settings)` starts the bot app (lifespan and retry worker included) on a free port."""
    from bot.app import create_app

    started: list[tuple[ServerThread, SqlStore]] = []

    def make(**overrides) -> BotHarness:
        settings = bot_settings(tmp_path / "bot.db", model_server.url, twilio_api.url, **overrides)
        server = ServerThread(create_app(settings)).start()
        store = SqlStore(settings.database_url)
        started.append((server, store))
        return BotHarness(settings, server, model_server, twilio_api, store)

    yield make
    for server, store in started:
        server.stop()
        store.dispose()


@pytest.fixture
def bot(make_bot) -> BotHarness:
    return make_bot()
