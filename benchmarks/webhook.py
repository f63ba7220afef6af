"""Photo webhook → reply latency (p50/p95) of the bot against a model server. Goal: p95 ≤ 1.5 s.

    python benchmarks/webhook.py --serving-url http://127.0.0.1:3000 --photo ../shared/data/ecustfd/JPEGImages/apple001S\\(1\\).JPG
    python benchmarks/webhook.py --stand-in        # the bot's own overhead, against the contract stand-in

The bot runs in this process on 127.0.0.1 with a temporary SQLite file; Twilio is a LOCAL STAND-IN (media
host + Messages API). Each request is a signed webhook with one photo; the time is until the TwiML reply.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from bot.app import create_app
from bot.devtools.simulate import new_sid, reply_texts, signed, twilio_form
from bot.devtools.standins import ModelServerStandIn, ServerThread, TwilioStandIn
from bot.settings import WEBHOOK_PATH, BotSettings, TierLimits

TOKEN, ACCOUNT, PUBLIC = "bench-token", "AC" + "b" * 32, "https://bot.bench.test"
GOAL_P95_S = 1.5
UNLIMITED = TierLimits(
    photos_per_day=10**9,
    photos_per_month=10**9,
    messages_per_day=10**9,
    messages_per_hour=10**9,
    ai_tokens_per_month=0,
    pitch="benchmark",
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _run_level(url: str, media_url: str, content_type: str, requests: int, concurrency: int, senders: int):
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: list[str] = []
    async with httpx.AsyncClient(
        timeout=30, trust_env=False, limits=httpx.Limits(max_connections=concurrency)
    ) as client:

        async def one(i: int) -> None:
            form = twilio_form(
                new_sid(),
                f"whatsapp:+1555020{i % senders:04d}",
                "whatsapp:+14155238886",
                "",
                [(media_url, content_type)],
                ACCOUNT,
            )
            body, headers = signed(form, PUBLIC, TOKEN)
            async with gate:
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                    return
                latencies.append(time.perf_counter() - started)
            texts = reply_texts(response.text) if response.status_code == 200 else []
            if response.status_code != 200 or not texts or texts[0].startswith(("Sorry", "Got your")):
                errors.append(f"{response.status_code}: {(texts or [response.text])[0][:80]}")

        await asyncio.gather(*(one(i) for i in range(requests)))
    return latencies, errors


def main(
    serving_url: Annotated[str | None, typer.Option(help="the model server to measure against")] = None,
    stand_in: Annotated[bool, typer.Option(help="use the /analyze contract stand-in instead")] = False,
    photo: Annotated[Path | None, typer.Option(help="photo to send (default: a small generated JPEG)")] = None,
    requests: Annotated[int, typer.Option(help="requests per concurrency level", min=1, max=500)] = 40,
    concurrency: Annotated[str, typer.Option(help="comma-separated concurrency levels")] = "1,4",
    warmup: Annotated[int, typer.Option(help="unmeasured requests first")] = 3,
) -> None:
    """Measure photo webhook → TwiML reply latency, one table row per concurrency level."""
    if not serving_url and not stand_in:
        raise typer.BadParameter("give --serving-url URL or --stand-in")
    levels = [int(x) for x in concurrency.split(",")]
    if photo is None:
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (640, 480), "orange").save(buffer, format="JPEG")
        data, content_type = buffer.getvalue(), "image/jpeg"
    else:
        data, content_type = photo.read_bytes(), "image/png" if photo.suffix.lower() == ".png" else "image/jpeg"

    twilio = TwilioStandIn(ACCOUNT, TOKEN)
    model = ModelServerStandIn()
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerThread(twilio.app()) as twilio_server,
        ServerThread(model.app()) as model_server,
    ):
        settings = BotSettings(
            public_url=PUBLIC,
            database_url=f"sqlite:///{tmp}/bench.db",
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=TOKEN,
            twilio_api_base_url=twilio_server.url,
            serving_url=serving_url or model_server.url,
            reply_budget_s=12.0,
            analyze_timeout_s=30.0,
            # the Twilio stand-in serves the photo (behind basic auth) on 127.0.0.1
            media_hosts=("127.0.0.1",),
            media_credential_hosts=("127.0.0.1",),
            media_allow_private=True,
            default_tier="bench",
            tiers={"bench": UNLIMITED},
        )
        media_url = f"{twilio_server.url}/media/{twilio.add_media(data, content_type)}"
        with ServerThread(create_app(settings)) as bot:
            url = bot.url + WEBHOOK_PATH
            if warmup:
                asyncio.run(_run_level(url, media_url, content_type, warmup, 1, 1))
            rows = []
            for level in levels:
                started = time.perf_counter()
                latencies, errors = asyncio.run(_run_level(url, media_url, content_type, requests, level, 8))
                wall = time.perf_counter() - started
                rows.append((level, latencies, errors, wall))

    target = "stand-in of /analyze (bot overhead only)" if stand_in and not serving_url else serving_url
    typer.echo(f"photo webhook → reply, {len(data) / 1e3:.0f} KB photo, model server: {target}")
    typer.echo(
        f"{'concurrency':>11} {'n':>4} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'req/s':>6} {'errors':>6}  goal p95 ≤ {GOAL_P95_S} s"
    )
    for level, latencies, errors, wall in rows:
        if not latencies:
            typer.echo(
                f"{level:>11} {0:>4} {'-':>7} {'-':>7} {'-':>7} {'-':>6} {len(errors):>6}  no answers: {errors[:1]}"
            )
            continue
        p95 = percentile(latencies, 0.95)
        verdict = "met" if p95 <= GOAL_P95_S and not errors else "MISSED"
        typer.echo(
            f"{level:>11} {len(latencies):>4} {statistics.median(latencies):>7.3f} {p95:>7.3f} "
            f"{max(latencies):>7.3f} {len(latencies) / wall:>6.1f} {len(errors):>6}  {verdict}"
        )
        if errors:
            typer.echo(f"{'':>11} first error: {errors[0]}")


if __name__ == "__main__":
    typer.run(main)
