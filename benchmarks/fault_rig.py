"""The processes of a faults run (the bot, the model server, the stand-ins) and the faults injected into them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from fault_traffic import ACCOUNT, PUBLIC, REPO, TOKEN, FlakyTwilio, Traffic, nutrition_tables, utc_now

from bot.devtools.standins import ServerThread, free_port
from bot.settings import WEBHOOK_PATH, BotSettings

ROOMY = {"photos_per_day": 10**9, "photos_per_month": 10**9, "messages_per_day": 10**9}
ROOMY |= {"messages_per_hour": 10**9, "ai_tokens_per_month": 0, "pitch": "faults benchmark"}


def die_with_us():
    """What a child runs before exec so that it gets SIGKILL when this process dies (Linux): a killed benchmark
    leaves no bot behind. Resolved here, in the parent: the forked child must not import anything."""
    if sys.platform != "linux":
        return None
    import ctypes

    prctl, sigkill = ctypes.CDLL(None).prctl, int(signal.SIGKILL)
    return lambda: prctl(1, sigkill)  # 1: PR_SET_PDEATHSIG


class Service:
    """A subprocess we SIGKILL and restart on the same port; every run's output appended to one log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], url: str, ready_path: str, log: Path):
        self.name, self.argv, self.env, self.url, self.ready_path, self.log = name, argv, env, url, ready_path, log
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self._die_with_us = die_with_us()

    def start(self) -> None:
        self.starts += 1
        with self.log.open("a") as out:
            out.write(f"\n===== {self.name} start {self.starts} at {utc_now().isoformat()} =====\n")
            out.flush()
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, preexec_fn=self._die_with_us
            )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    async def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + self.ready_path)).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s; see {self.log}")


@dataclass
class Knobs:
    lease_s: float = 4.0
    retry_base_s: float = 0.5
    retry_max_s: float = 3.0
    retry_poll_s: float = 0.2
    reply_budget_s: float = 2.0


def bot_env(workdir: Path, port: int, twilio_url: str, serving_url: str, nutrition: Path, knobs: Knobs) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "public_url": PUBLIC,
        "database_url": f"sqlite:///{workdir / 'bot.db'}",
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_api_base_url": twilio_url,
        "serving_url": serving_url,
        "analyze_timeout_s": 10,
        "media_timeout_s": 5,
        "default_tier": "bench",
        "tiers": json.dumps({"bench": ROOMY}),
        "coach": "local",
        "nutrition_dir": nutrition,
        "photo_store": workdir / "photos",
        **asdict(knobs),
    }
    # Photos come from 127.0.0.1: allow that where the bot restricts media hosts (settings added later).
    fields = BotSettings.model_fields
    if "media_allow_private" in fields:
        settings["media_allow_private"] = "true"
    for name in ("media_hosts", "media_credential_hosts"):
        if name in fields:
            settings[name] = json.dumps(["127.0.0.1"])
    env.update({f"BOT_{k.upper()}": str(v) for k, v in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Run:
    """The stand-ins, the bot and the people of one run, in a work folder kept for debugging."""

    def __init__(self, workdir: Path, serving_url: str | None, model_delay: str, knobs: Knobs, fail_share=0.0):
        self.workdir, self.knobs = workdir, knobs
        workdir.mkdir(parents=True, exist_ok=True)
        self.twilio = FlakyTwilio(ACCOUNT, TOKEN, fail_share=fail_share)
        self.twilio_server = ServerThread(self.twilio.app())
        self.model = None
        if serving_url is None:
            port = free_port()
            serving_url = f"http://127.0.0.1:{port}"
            argv = [sys.executable, "-m", "bot.devtools.model_standin_server", "--port", str(port)]
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            self.model = Service(
                "model", [*argv, "--delay", model_delay], env, serving_url, "/readyz", self.log("model")
            )
        self.serving_url = serving_url
        self.bot_port = free_port()
        self.bot: Service | None = None
        self.failed_starts = 0  # bot starts that never got ready

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    @property
    def db(self) -> Path:
        return self.workdir / "bot.db"

    async def __aenter__(self) -> Run:
        self.twilio_server.start()
        nutrition = nutrition_tables(self.workdir)
        env = bot_env(self.workdir, self.bot_port, self.twilio_server.url, self.serving_url, nutrition, self.knobs)
        url = f"http://127.0.0.1:{self.bot_port}"
        self.bot = Service("bot", [sys.executable, "-m", "bot"], env, url, "/healthz", self.log("bot"))
        try:
            if self.model:
                self.model.start()
                await self.model.wait_ready()
            self.bot.start()
            await self.bot.wait_ready()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        # Stop the bot before the checker looks, so nothing changes under it.
        for service in (self.bot, self.model):
            if service:
                await asyncio.to_thread(service.stop)
        self.twilio_server.stop()

    def traffic(self, photo: bytes, retry_budget: int) -> Traffic:
        url = self.bot.url + WEBHOOK_PATH
        return Traffic(url, self.twilio, self.twilio_server.url + "/media", photo, retry_budget)


async def kill_bot(run: Run, until: float, serve: tuple[float, float], rng: random.Random, kills: list[float]):
    """SIGKILL the bot at a random moment once it has served `serve` seconds, and start it again at once (as a
    supervisor would); a start that never gets ready is killed and started again."""
    while time.monotonic() < until:
        try:
            await run.bot.wait_ready()
        except RuntimeError:
            run.failed_starts += 1
            run.bot.kill()
            await asyncio.sleep(0.5)
            run.bot.start()
            continue
        await asyncio.sleep(rng.uniform(*serve))
        if time.monotonic() >= until:
            return
        kills.append(time.monotonic())
        run.bot.kill()
        run.bot.start()


async def kill_model(run: Run, at: list[float], down: tuple[float, float], rng: random.Random, restarts: list):
    for when in at:
        await asyncio.sleep(max(0.0, when - time.monotonic()))
        run.model.kill()
        await asyncio.sleep(rng.uniform(*down))
        run.model.start()
        await run.model.wait_ready()
        restarts.append(utc_now())


def hold_lock(path: Path, seconds: float) -> float:
    """BEGIN EXCLUSIVE on the bot's database for `seconds` from another connection; returns the release time."""
    with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        db.execute("ROLLBACK")
        return time.monotonic()


async def lock_db(run: Run, at: list[float], hold: tuple[float, float], rng: random.Random, released: list[float]):
    for when in at:
        await asyncio.sleep(max(0.0, when - time.monotonic()))
        released.append(await asyncio.to_thread(hold_lock, run.db, rng.uniform(*hold)))


def spread(count: int, start: float, duration: float, rng: random.Random) -> list[float]:
    """`count` moments in the middle 80 % of the run, in order."""
    return sorted(start + duration * rng.uniform(0.1, 0.9) for _ in range(count))
