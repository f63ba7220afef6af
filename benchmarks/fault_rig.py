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
        self.starts, self.started_at = 0, 0.0
        self._die_with_us = die_with_us()

    def start(self) -> None:
        self.starts += 1
        self.started_at = time.monotonic()
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

    async def ready(self) -> bool:
        async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get(self.url + self.ready_path)).status_code == 200
        return False

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
    twiml_confirm_s: float = 20.0  # a TwiML reply is looked up at Twilio after this (the client gives up at 15 s)

    def settle_s(self) -> float:
        """How long the drain waits without progress before it calls the bot stuck: past a TwiML reply's check."""
        return max(10.0, 2 * (self.lease_s + self.retry_max_s), self.twiml_confirm_s + 10.0)


def bot_env(
    workdir: Path, port: int, twilio_url: str, serving_url: str, nutrition: Path, knobs: Knobs, store_url: str
) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "public_url": PUBLIC,
        "database_url": store_url,
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


# What the bots of a run with the SQS work queue are told: moto's SQS server needs keys, any keys.
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "faults", "AWS_SECRET_ACCESS_KEY": "faults", "AWS_DEFAULT_REGION": "us-east-1"}
SQS_KNOBS = {"sqs_wait_s": 1, "sqs_visibility_s": 10, "work_sweep_s": 2.0, "work_grace_s": 4.0}


def local_dynamodb(store_url: str) -> bool:
    """A `dynamodb://` store: the run serves it from a local DynamoDB-compatible server of its own, so the URL
    names no endpoint (never a real table: the bots get fake keys)."""
    if not store_url.startswith("dynamodb://"):
        return False
    from bot.storage.dynamo.table import DynamoUrl

    if DynamoUrl.parse(store_url).endpoint:
        raise ValueError(f"{store_url!r}: a faults run serves its DynamoDB table itself; give no endpoint")
    return True


def sqlite_path(store_url: str) -> Path | None:
    """The file of a sqlite:/// store URL; None for any other store (the checker then reads it through the bot)."""
    prefix = "sqlite:///"
    return Path(store_url[len(prefix) :]) if store_url.startswith(prefix) else None


class Run:
    """The stand-ins, the bot replicas and the people of one run, in a work folder kept for debugging.

    `replicas` bots share one store (`store_url`, passed as BOT_DATABASE_URL; default a SQLite file in the work
    folder) and, with `queue="sqs"`, one SQS queue on a local moto server; the people reach a random replica per
    attempt, as through a load balancer that does not know which one just died."""

    def __init__(
        self,
        workdir: Path,
        serving_url: str | None,
        model_delay: str,
        knobs: Knobs,
        fail_share=0.0,
        replicas: int = 1,
        queue: str = "inprocess",
        store_url: str | None = None,
    ):
        self.workdir, self.knobs = workdir, knobs
        workdir.mkdir(parents=True, exist_ok=True)
        self.replicas, self.queue = replicas, queue
        self.store_url = store_url or f"sqlite:///{workdir / 'bot.db'}"
        self.dynamo: Service | None = None  # the local DynamoDB-compatible server of a dynamodb:// store
        if local_dynamodb(self.store_url):
            port = free_port()
            self.store_url += f"&endpoint=http://127.0.0.1:{port}"
            argv = [sys.executable, "-m", "bot.devtools.dynamodb_server", "--port", str(port)]
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            url = f"http://127.0.0.1:{port}"
            self.dynamo = Service("dynamodb", argv, env, url, "/healthz", self.log("dynamodb"))
        self.sqs: Service | None = None
        self.sqs_queue_url: str | None = None
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
        self.bots: list[Service] = []
        self.failed_starts = 0  # bot starts that never got ready
        self.store_faults: list[str] = []  # what lock_db did to a DynamoDB store

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    @property
    def bot(self) -> Service:
        """The first replica (the only one unless `replicas` > 1)."""
        return self.bots[0]

    @property
    def db(self) -> Path | None:
        """The SQLite file the bots share; None when the store is not SQLite."""
        return sqlite_path(self.store_url)

    async def _start_sqs(self) -> dict[str, str]:
        """moto's SQS server in a subprocess, one queue on it; the bots' environment to use it."""
        import boto3

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        self.sqs = Service("sqs", argv, env, url, "/moto-api/", self.log("sqs"))
        self.sqs.start()
        await self.sqs.wait_ready()
        client = boto3.client("sqs", endpoint_url=url, region_name="us-east-1", **_keys())
        self.sqs_queue_url = client.create_queue(QueueName="bot-work")["QueueUrl"]
        knobs = {f"BOT_{k.upper()}": str(v) for k, v in SQS_KNOBS.items()}
        return {"BOT_WORK_QUEUE": "sqs", "BOT_SQS_QUEUE_URL": self.sqs_queue_url, "BOT_SQS_ENDPOINT_URL": url} | knobs

    async def _start_dynamodb(self) -> None:
        """The local DynamoDB-compatible server, and the table made by `python -m bot.admin create-tables`."""
        self.dynamo.start()
        await self.dynamo.wait_ready()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "AWS_"))} | FAKE_AWS
        made = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot.admin", "create-tables", "--database-url", self.store_url],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise RuntimeError(f"create-tables failed ({made.returncode}): {made.stdout}{made.stderr}")

    async def __aenter__(self) -> Run:
        self.twilio_server.start()
        nutrition = nutrition_tables(self.workdir)
        try:
            if self.dynamo:
                await self._start_dynamodb()
            extra = FAKE_AWS | await self._start_sqs() if self.queue == "sqs" else {}
            extra = FAKE_AWS | extra if self.dynamo else extra
            for i in range(self.replicas):
                port = free_port()
                env = bot_env(
                    self.workdir, port, self.twilio_server.url, self.serving_url, nutrition, self.knobs, self.store_url
                )
                env = {k: v for k, v in env.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")} | extra
                name = "bot" if self.replicas == 1 else f"bot-{i}"
                url = f"http://127.0.0.1:{port}"
                self.bots.append(Service(name, [sys.executable, "-m", "bot"], env, url, "/healthz", self.log(name)))
            if self.model:
                self.model.start()
                await self.model.wait_ready()
            for bot in self.bots:  # one after the other: the first migrates the shared store
                bot.start()
                await bot.wait_ready()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def stop_bots(self) -> None:
        """Stop the bots, so nothing changes under the checker (the store's server keeps running)."""
        for bot in self.bots:
            await asyncio.to_thread(bot.stop)

    async def __aexit__(self, *exc) -> None:
        # Stop the bots before the checker looks, so nothing changes under it.
        for service in (*self.bots, self.model, self.sqs, self.dynamo):
            if service:
                await asyncio.to_thread(service.stop)
        self.twilio_server.stop()

    def traffic(self, photo: bytes, retry_budget: int) -> Traffic:
        urls = tuple(bot.url + WEBHOOK_PATH for bot in self.bots)
        return Traffic(urls, self.twilio, self.twilio_server.url + "/media", photo, retry_budget)


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    }


async def kill_bot(run: Run, until: float, serve: tuple[float, float], rng: random.Random, kills: list[float]):
    """SIGKILL the bot at a random moment once it has served `serve` seconds, and start it again at once (as a
    supervisor would); a start that never gets ready is killed and started again. With replicas: see kill_replicas."""
    if len(run.bots) > 1:
        return await kill_replicas(run, until, serve, rng, kills)
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


async def kill_replicas(run: Run, until: float, serve: tuple[float, float], rng: random.Random, kills: list[float]):
    """Every `serve` seconds SIGKILL a random replica that is serving and start it again at once, without waiting
    for it: at times both are down. One that exits, or is not ready 30 s after its start, is started again."""
    while time.monotonic() < until:
        await asyncio.sleep(rng.uniform(*serve))
        if time.monotonic() >= until:
            return
        serving = []
        for bot in run.bots:
            if await bot.ready():
                serving.append(bot)
            elif bot.process.poll() is not None or time.monotonic() - bot.started_at > 30:
                run.failed_starts += 1
                bot.kill()
                bot.start()
        if serving:
            victim = rng.choice(serving)
            kills.append(time.monotonic())
            victim.kill()
            victim.start()


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
    """SQLite: the file held locked. DynamoDB: its server frozen (SIGSTOP: every request waits, the bots' leases
    run out meanwhile) and throttling every request (the SDK backs off and retries; some calls fail), in turn."""
    for i, when in enumerate(at):
        await asyncio.sleep(max(0.0, when - time.monotonic()))
        seconds = rng.uniform(*hold)
        if run.dynamo is None:
            released.append(await asyncio.to_thread(hold_lock, run.db, seconds))
        elif i % 2 == 0:
            run.store_faults.append(f"frozen {seconds:.1f} s")
            run.dynamo.process.send_signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(seconds)
            finally:
                run.dynamo.process.send_signal(signal.SIGCONT)
            released.append(time.monotonic())
        else:
            run.store_faults.append(f"throttled {seconds:.1f} s")
            async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
                await client.post(f"{run.dynamo.url}/faults/throttle", params={"seconds": seconds})
            await asyncio.sleep(seconds)
            released.append(time.monotonic())


def spread(count: int, start: float, duration: float, rng: random.Random) -> list[float]:
    """`count` moments in the middle 80 % of the run, in order."""
    return sorted(start + duration * rng.uniform(0.1, 0.9) for _ in range(count))
