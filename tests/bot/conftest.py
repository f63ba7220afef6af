"""Fixtures of the bot tests: the real bot app under uvicorn on 127.0.0.1, talking over real HTTP to LOCAL
STAND-INS of the model server (/analyze contract) and of Twilio (Messages API + media host).

Test modules take these, and those of tests/conftest.py (repo_root, usda_table, usda_tables_dir, tiny_models,
photo_bytes, ...), as fixtures; they import nothing from tests/ by name."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bot.devtools.simulate import new_sid, reply_texts, signed, twilio_form
from bot.devtools.standins import ModelServerStandIn, ServerThread, TwilioStandIn
from bot.devtools.stripe_standin import StripeStandIn, webhook_request
from bot.settings import WEBHOOK_PATH, BotSettings
from bot.storage.factory import make_store
from bot.storage.sql.store import SqlStore

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
    standin: ModelServerStandIn | TwilioStandIn | StripeStandIn
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

    sender = ALICE
    number = BOT_NUMBER
    jpeg = staticmethod(jpeg_bytes)

    @property
    def webhook(self) -> str:
        return self.server.url + WEBHOOK_PATH

    def media_url(self, data: bytes, content_type: str = "image/jpeg", chunked: bool = False) -> tuple[str, str]:
        return f"{self.twilio.url}/media/{self.twilio.standin.add_media(data, content_type, chunked)}", content_type

    def form(
        self,
        body: str = "",
        photos: list[tuple[str, str]] = (),
        sender: str = ALICE,
        sid: str | None = None,
        sms: bool = False,
    ) -> dict[str, str]:
        prefix = "" if sms else "whatsapp:"
        return twilio_form(sid or new_sid(), prefix + sender, prefix + BOT_NUMBER, body, list(photos), ACCOUNT_SID)

    def signed(self, form: dict[str, str], url: str = PUBLIC_URL, token: str = AUTH_TOKEN) -> tuple[bytes, dict]:
        """The body and headers of `form` signed as Twilio signs it (for the public URL, with the auth token)."""
        return signed(form, url, token)

    def post(self, form: dict[str, str], timeout: float = 20.0, **kwargs) -> httpx.Response:
        body, headers = self.signed(form)
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
def jpeg():
    """`jpeg(size=(64, 48), color="red")`: the bytes of a small JPEG."""
    return jpeg_bytes


@pytest.fixture
def twilio_env() -> dict[str, str]:
    """The settings `bot.devtools.simulate` signs with, as environment variables."""
    return {"BOT_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "BOT_PUBLIC_URL": PUBLIC_URL, "BOT_TWILIO_ACCOUNT_SID": ACCOUNT_SID}


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
        public_url=PUBLIC_URL,
        database_url=f"sqlite:///{database}",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=twilio_url,
        serving_url=model_url,
        reply_budget_s=5.0,
        plan_budget_s=60.0,  # a busy CI machine may take many seconds: the time limit has its own test
        analyze_timeout_s=5.0,
        media_timeout_s=5.0,
        # The Twilio stand-in serves media (behind basic auth) on 127.0.0.1, over plain http.
        media_hosts=("127.0.0.1",),
        media_credential_hosts=("127.0.0.1",),
        media_allow_private=True,
        retry_base_s=0.2,
        retry_max_s=1.0,
        retry_poll_s=0.05,
        lease_s=30.0,
    )
    values.update(overrides)
    return BotSettings(**values)


@pytest.fixture
def start_bot(tmp_path, twilio_api):
    """`start_bot(model_url, model=None, **settings)` starts the bot app (lifespan and retry worker included) on a
    free port, against the model server at `model_url`; the same database file each time in one test."""
    from bot.app import create_app

    started: list[tuple[ServerThread, SqlStore]] = []

    def start(model_url: str, model: Running | None = None, **overrides) -> BotHarness:
        settings = bot_settings(tmp_path / "bot.db", model_url, twilio_api.url, **overrides)
        server = ServerThread(create_app(settings)).start()
        store = make_store(settings.database_url)  # SQL, or DynamoDB for a test that asks for it
        started.append((server, store))
        return BotHarness(settings, server, model, twilio_api, store)

    yield start
    for server, store in started:
        server.stop()
        store.dispose()


@pytest.fixture
def make_bot(model_server, start_bot):
    """`make_bot(**settings)`: `start_bot` against the model server stand-in."""
    return lambda **overrides: start_bot(model_server.url, model_server, **overrides)


@pytest.fixture
def bot(make_bot) -> BotHarness:
    return make_bot()


# --- billing: a LOCAL STAND-IN of the Stripe API, and the bot with billing on (tests/bot/test_billing*.py)
STRIPE_KEY = "sk_test_" + "5" * 24
STRIPE_WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
STRIPE_PRICES = {"standard": "price_standard_test", "premium": "price_premium_test"}


@dataclass
class BillingHarness:
    bot: BotHarness
    stripe: StripeStandIn

    def deliver(self, event: dict, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None) -> httpx.Response:
        """POST `event` to the bot's Stripe webhook, signed as Stripe signs it."""
        body, headers = webhook_request(event, secret, timestamp)
        return httpx.post(self.bot.server.url + "/stripe/webhook", content=body, headers=headers, trust_env=False)

    def deliver_all(self, events: list[dict]) -> list[str]:
        """Deliver each (asserting a 200); the results ('applied', 'duplicate', 'stale'...)."""
        results = []
        for event in events:
            response = self.deliver(event)
            assert response.status_code == 200, response.text
            results.append(response.json()["result"])
        return results

    def open_link(self, url: str) -> httpx.Response:
        """Open one of our billing links as the person's browser would (the public URL is this server)."""
        return httpx.get(url.replace(PUBLIC_URL, self.bot.server.url), follow_redirects=True, trust_env=False)

    def tier(self, phone: str = ALICE) -> str:
        return self.bot.store.get_or_create_user(phone, "free", "UTC").tier


@pytest.fixture
def stripe_api():
    standin = StripeStandIn(STRIPE_KEY, tuple(STRIPE_PRICES.values()))
    server = ServerThread(standin.app()).start()
    standin.base_url = server.url
    yield Running(standin, server)
    server.stop()


@pytest.fixture
def billing_bot(make_bot, stripe_api):
    """`billing_bot(**settings)`: `make_bot` with billing on, against the Stripe stand-in."""

    def start(**overrides) -> BillingHarness:
        values = dict(
            stripe_secret_key=STRIPE_KEY,
            stripe_webhook_secret=STRIPE_WEBHOOK_SECRET,
            stripe_api_base=stripe_api.url,
            stripe_price_ids=STRIPE_PRICES,
            billing_check_s=0.05,
        )
        return BillingHarness(make_bot(**{**values, **overrides}), stripe_api.standin)

    return start
