"""The coach's tip in words: a deterministic local coach, and a Bedrock (Converse API) coach that falls back to it.

Every number a person sees is computed by us (`CoachFacts`) and printed by `bot.coach.wording`; the coach only
adds a short tip in words. The Bedrock coach checks that its tip states no number absent from the facts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

from cachetools import TTLCache

from bot.ledger import Ledger
from bot.settings import BotSettings
from bot.storage.records import UserRecord

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are a warm, practical nutrition coach replying in a WhatsApp chat. Write one or two short sentences "
    "(under 240 characters): encouragement and one concrete tip for the next meal. Use only the facts given; "
    "never state a number that is not in the facts, never name a food the person is allergic to, and give no "
    "medical advice. Plain text, no lists, no emoji."
)
_ASCII = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "})


@dataclass(frozen=True)
class CoachFacts:
    """What the coach may talk about, all computed by us. Macros in grams, energy in kcal."""

    moment: str  # "meal_logged", "today", "targets"
    goal: str | None
    allergies: str
    target: dict
    eaten: dict
    remaining: dict
    options: list[dict] = field(default_factory=list)  # [{name, kcal, protein_g}]

    def prompt(self) -> str:
        return "Facts computed by the app (JSON):\n" + json.dumps(asdict(self), sort_keys=True)

    def numbers(self) -> set[float]:
        found = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", self.prompt())}
        return found | {round(abs(v)) for v in self.remaining.values() if isinstance(v, (int, float))}


@dataclass(frozen=True)
class Tip:
    text: str
    source: str  # "local", "bedrock", "cache"
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class Coach(Protocol):
    def tip(self, user: UserRecord, facts: CoachFacts, now: datetime) -> Tip: ...


class LocalCoach:
    """Templates chosen by the day's state and the goal: same facts, same words."""

    GOAL_TIPS: ClassVar[dict[str | None, str]] = {
        "lose_weight": "Fill half the plate with vegetables: they keep you full on fewer calories.",
        "save_money": "Beans, lentils, eggs, oats and rice give the most nutrition per dollar.",
        "eat_better": "Add a fruit or vegetable you haven't had yet today.",
        "maintain": "You're on track; keep portions like today's.",
        None: "Build the next plate around a protein, a whole grain and a vegetable.",
    }

    def tip(self, user: UserRecord, facts: CoachFacts, now: datetime) -> Tip:
        left = facts.remaining.get("kcal", 0)
        if left < -100:
            text = "You're over today's target: keep the next meal light, mostly vegetables and lean protein."
        elif left < 100:
            text = "That's today's target reached. If you're still hungry, go for vegetables or fruit."
        elif (
            facts.remaining.get("protein_g", 0) >= 0.45 * max(facts.target.get("protein_g", 1), 1)
            and facts.eaten.get("kcal", 0) > 0
        ):
            text = "Protein is lagging behind: make it the centre of your next meal."
        else:
            text = self.GOAL_TIPS.get(facts.goal, self.GOAL_TIPS[None])
        return Tip(text, "local")


class TtlCache:
    """A small thread-safe LRU whose entries expire after `ttl_s`: cachetools' TTLCache, which is not
    thread-safe itself, behind a lock. A size or TTL of 0 turns it off."""

    def __init__(self, ttl_s: float, size: int, clock=time.monotonic):
        self.ttl_s, self.size, self.clock = ttl_s, size, clock
        # off: TTLCache(maxsize=0) raises on every insert, and with ttl 0 nothing would ever be found
        self._items: TTLCache[str, str] | None = (
            TTLCache(maxsize=size, ttl=ttl_s, timer=clock) if size > 0 and ttl_s > 0 else None
        )
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        if self._items is None:
            return None
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, value: str) -> None:
        if self._items is None:
            return
        with self._lock:
            self._items[key] = value


class BedrockCoach:
    """Asks a Bedrock model (Converse API) for the tip; the local coach answers whenever Bedrock can't."""

    def __init__(
        self,
        client,
        settings: BotSettings,
        ledger: Ledger | None,
        fallback: Coach | None = None,
        cache: TtlCache | None = None,
    ):
        self.client = client
        self.settings = settings
        self.ledger = ledger
        self.fallback = fallback or LocalCoach()
        self.cache = cache or TtlCache(settings.coach_cache_ttl_s, settings.coach_cache_size)

    def request(self, facts: CoachFacts) -> dict:
        return {
            "modelId": self.settings.bedrock_model_id,
            "system": [{"text": SYSTEM_PROMPT}],
            "messages": [{"role": "user", "content": [{"text": facts.prompt()}]}],
            "inferenceConfig": {
                "maxTokens": self.settings.bedrock_max_tokens,
                "temperature": self.settings.bedrock_temperature,
            },
        }

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        s = self.settings
        return (
            input_tokens / 1000 * s.bedrock_usd_per_1k_input_tokens
            + output_tokens / 1000 * s.bedrock_usd_per_1k_output_tokens
        )

    def tip(self, user: UserRecord, facts: CoachFacts, now: datetime) -> Tip:
        request = self.request(facts)
        key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        cached = self.cache.get(key)
        if cached is not None:
            return Tip(cached, "cache")
        if self.ledger is not None and self.ledger.ai_tokens_left(user, now) <= 0:
            log.info("user %s has no AI tokens left this month: local coach", user.id)
            return self.fallback.tip(user, facts, now)
        from botocore.exceptions import BotoCoreError, ClientError  # boto stays out of the bot's import time

        try:
            response = self.client.converse(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            log.warning("Bedrock %s (%s): local coach instead", code, self.settings.bedrock_model_id)
            return self.fallback.tip(user, facts, now)
        except BotoCoreError as exc:
            log.warning("Bedrock unreachable (%s): local coach instead", exc)
            return self.fallback.tip(user, facts, now)
        usage = response.get("usage", {})
        tokens_in, tokens_out = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
        cost = self.cost_usd(tokens_in, tokens_out)
        if self.ledger is not None:  # paid for whether or not we use the answer
            self.ledger.record_ai_usage(user, tokens_in, tokens_out, cost, now)
        text = _text_of(response)
        problem = _problem(text, facts)
        if problem:
            log.warning("Bedrock tip refused (%s): %r", problem, text[:200])
            return self.fallback.tip(user, facts, now)
        self.cache.put(key, text)
        return Tip(text, "bedrock", tokens_in, tokens_out, cost)


def _text_of(response: dict) -> str:
    content = response.get("output", {}).get("message", {}).get("content", [])
    text = " ".join(block["text"] for block in content if "text" in block)
    return re.sub(r"\s+", " ", text.translate(_ASCII)).strip()


def _problem(text: str, facts: CoachFacts) -> str | None:
    """Why a model's tip can't be sent: empty, too long, or stating numbers we did not give it."""
    if not text:
        return "empty"
    if len(text) > 400:
        return f"{len(text)} characters"
    allowed = facts.numbers()
    stray = [n for n in re.findall(r"\d+(?:[.,]\d+)?", text) if float(n.replace(",", "")) not in allowed]
    return f"numbers not in the facts: {stray}" if stray else None


def make_coach(settings: BotSettings, ledger: Ledger | None) -> Coach:
    """The local coach, or Bedrock when configured (`coach=bedrock`, or `auto` with AWS credentials and a region)."""
    if settings.coach == "local":
        return LocalCoach()
    import boto3
    from botocore.config import Config

    session = boto3.Session(region_name=settings.aws_region) if settings.aws_region else boto3.Session()
    # region first: it needs no network, while looking for credentials may ask the instance metadata service
    if settings.coach == "auto" and (not session.region_name or session.get_credentials() is None):
        log.info("AWS credentials or region not configured: local coach")
        return LocalCoach()
    config = Config(connect_timeout=2, read_timeout=settings.bedrock_timeout_s, retries={"max_attempts": 1})
    client = session.client("bedrock-runtime", config=config)
    log.info("Bedrock coach: %s in %s", settings.bedrock_model_id, session.region_name)
    return BedrockCoach(client, settings, ledger)
