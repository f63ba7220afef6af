"""The simulated people of a faults run: their webhooks, re-sends and photos, and the flaky Twilio stand-in."""

from __future__ import annotations

import asyncio
import io
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi.responses import JSONResponse

from bot.channel.answers import ack_reply
from bot.devtools.simulate import new_sid, reply_texts, signed, twilio_form
from bot.devtools.standins import TwilioStandIn
from bot.photos.meal_reply import UNAVAILABLE

REPO = Path(__file__).resolve().parents[1]
TOKEN, ACCOUNT, PUBLIC = "faults-token", "AC" + "f" * 32, "https://bot.faults.test"
BOT_NUMBER = "whatsapp:+14155238886"
ACKS = frozenset(ack_reply(n) for n in range(1, 11))  # "Got your photo, analysing now": not a reply
# Not the reply either: "couldn't analyse it, will retry" promises a result that must follow.
PLACEHOLDERS = ACKS | {UNAVAILABLE}
MEALS = (
    "I had {g} g of rice and 2 eggs",
    "{g} g chicken breast and 1 apple",
    "{g} g pasta",
    "{g}g banana",
    "{g} g broccoli and 88 g salmon",
)
COMMANDS = ("today", "help", "goal lose weight", "targets", "profile")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # what the bot stores in events.at


@dataclass
class FlakyTwilio(TwilioStandIn):
    """The Twilio stand-in answering a random share of REST sends with a 500 (its `fail_sends` fails the first n)."""

    fail_share: float = 0.0
    failed: int = 0

    def app(self):
        inner, rng = super().app(), random.Random(7)

        async def asgi(scope, receive, send):
            sending = scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("Messages.json")
            if sending and rng.random() < self.fail_share:
                self.failed += 1
                failure = {"code": 20500, "message": "stand-in failure", "status": 500}
                return await JSONResponse(failure, status_code=500)(scope, receive, send)
            await inner(scope, receive, send)

        return asgi


@dataclass
class Sent:
    """One inbound message as the person's phone (Twilio) saw it."""

    sid: str
    to: str  # the person's address: REST replies go to it
    kind: str  # photo, meal, command
    body: str
    first_at: float
    attempts: int = 0
    failures: list[str] = field(default_factory=list)
    texts: list[str] | None = None  # of the one 200 answer
    answered_at: float | None = None
    latency_s: float | None = None  # of the answered attempt
    client_gave_up: bool = False


@dataclass
class Traffic:
    urls: tuple[str, ...]  # the bot replicas' webhooks: each attempt goes to a random one, as a load balancer's
    twilio: TwilioStandIn
    media_base: str
    photo: bytes
    retry_budget: int
    sent: dict[str, Sent] = field(default_factory=dict)
    answers: list[tuple[float, float]] = field(default_factory=list)  # (attempt started, answered) of each 200

    async def post(self, client: httpx.AsyncClient, sent: Sent, form: dict[str, str], rng: random.Random) -> None:
        """Post until answered with a 200; a lost connection, a timeout or a 5xx is re-sent as Twilio would."""
        body, headers = signed(form, PUBLIC, TOKEN)
        while sent.attempts < self.retry_budget:
            sent.attempts += 1
            started = time.monotonic()
            try:
                url = self.urls[0] if len(self.urls) == 1 else rng.choice(self.urls)
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                sent.failures.append(type(exc).__name__)
            else:
                if response.status_code == 200:
                    sent.answered_at = time.monotonic()
                    sent.latency_s, sent.texts = sent.answered_at - started, reply_texts(response.text)
                    for text in sent.texts:  # Twilio logs a TwiML answer's messages, as it logs REST sends
                        self.twilio.record_reply(sent.to, BOT_NUMBER, text, utc_now())
                    self.answers.append((started, sent.answered_at))
                    return
                sent.failures.append(str(response.status_code))
                if response.status_code < 500:  # our own mistake (signature, form): re-sending won't help
                    break
            await asyncio.sleep(rng.uniform(0.5, 1.5))
        sent.client_gave_up = True

    async def person(self, i: int, until: float, think: tuple[float, float], mix: tuple[float, ...], seed: int):
        rng = random.Random(seed * 1000 + i)
        to = f"whatsapp:+1555{i:07d}"
        grams = iter(range(101, 10**6))
        limits = httpx.Limits(max_keepalive_connections=0)  # Twilio opens a connection per webhook
        async with httpx.AsyncClient(timeout=httpx.Timeout(15.0), trust_env=False, limits=limits) as client:
            await asyncio.sleep(rng.uniform(0, think[1]))  # people don't all start at once
            while time.monotonic() < until:
                kind = rng.choices(("photo", "meal", "command"), mix)[0]
                media, text = [], ""
                if kind == "photo":
                    media = [(f"{self.media_base}/{self.twilio.add_media(self.photo, 'image/jpeg')}", "image/jpeg")]
                elif kind == "meal":
                    text = rng.choice(MEALS).format(g=next(grams))
                else:
                    text = rng.choice(COMMANDS)
                form = twilio_form(new_sid(), to, BOT_NUMBER, text, media, ACCOUNT)
                sent = self.sent[form["MessageSid"]] = Sent(form["MessageSid"], to, kind, text, time.monotonic())
                await self.post(client, sent, form, rng)
                await asyncio.sleep(rng.uniform(*think))


def photo_bytes(path: Path | None) -> bytes:
    """`path`, or an ECUSTFD photo from ../shared/data at 1600×1200, or a generated one of that size."""
    from PIL import Image, ImageFilter

    if path is not None:
        return path.read_bytes()
    found = sorted((REPO.parent / "shared/data/ecustfd/JPEGImages").glob("*.JPG"))[:1]
    image = Image.open(found[0]).convert("RGB") if found else Image.effect_noise((400, 300), 60).convert("RGB")
    image = image.resize((1600, 1200)).filter(ImageFilter.SMOOTH if not found else ImageFilter.BLUR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def nutrition_tables(workdir: Path) -> Path:
    """Typed meals need the USDA tables: data/nutrition when built, else the tests' small real subset."""
    if (REPO / "data/nutrition/foods.parquet").is_file():
        return REPO / "data/nutrition"
    import importlib.util

    spec = importlib.util.spec_from_file_location("usda_subset", REPO / "tests/usda_subset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_subset_tables(workdir / "nutrition")
