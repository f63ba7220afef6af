"""Replay a sample conversation through the live bot (`python -m bot`) and a model server already running.

    BOT_SERVING_URL=http://127.0.0.1:3000 python -m bot.devtools.demo path/to/meal.jpg [more photos...]

Starts the bot on a free localhost port with a throw-away SQLite database and a demo auth token, sends each
message signed as Twilio would (`bot.devtools.simulate`), prints the conversation, and stops the bot. The last step of
`make run`. It ends with a week's meal plan, its shopping list and grocery links (Instacart through a LOCAL STAND-IN
of its API, Amazon Fresh with a demo tag), then follows one link through the bot's `/r/{id}` and shows the click
recorded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from bot.devtools.instacart_standin import InstacartStandIn
from bot.devtools.simulate import LOOPBACK_MEDIA
from bot.devtools.standins import ServerThread, free_port

DEMO_TOKEN = "demo-auth-token"
SCRIPT = (
    "Hi",
    "no nuts",
    "lose weight",
    "{photo}",
    "2 eggs and a slice of toast",
    "remove the toast",
    "today",
    "plan my week",
    "day 2",
    "swap tuesday dinner",
    "shopping list",
)
DEMO_INSTACART_KEY = "keys.demo0000000000000000000000000000"
DEMO_AMAZON_TAG = "platecoach-demo-20"
RECIPES = Path(__file__).resolve().parents[2] / "data" / "recipes"
ASKED = "I can't tell what"  # how the bot's question about an unknown food begins (bot/gallery/wording.py)


def _wait_ready(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bot exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the bot did not answer /healthz within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def _follow_a_link(listing: str, database_url: str) -> None:
    """GET the first of our short links in `listing` as a person's phone would, and show the click recorded."""
    from bot.storage.sql.store import SqlStore

    urls = [word for word in listing.split() if "/r/" in word]
    if not urls:
        typer.echo("\n(no grocery links in the shopping list)", err=True)
        raise typer.Exit(1)
    typer.secho(f"\n> (tap) {urls[0]}", fg=typer.colors.CYAN)
    answer = httpx.get(urls[0], follow_redirects=False, timeout=10, trust_env=False)
    typer.echo(f"{answer.status_code} -> {answer.headers.get('location')}")
    store = SqlStore(database_url)
    try:
        clicks = [e for e in store.events() if e.kind == "link_click"]
    finally:
        store.dispose()
    for click in clicks:
        typer.echo(
            f"recorded: {click.kind} user {click.user_id}, plan {click.detail['plan_id']}, {click.detail['provider']}"
        )
    if answer.status_code != 302 or not clicks:
        raise typer.Exit(1)


def _demo_tiers(photos: int) -> str:
    """The default tiers, with a free plan roomy enough for the demo's photos (the real one allows 3 a day)."""
    import json

    from bot.settings import DEFAULT_TIERS

    tiers = {name: limits.model_dump() for name, limits in DEFAULT_TIERS.items()}
    tiers["free"]["photos_per_day"] = max(tiers["free"]["photos_per_day"], photos)
    return json.dumps(tiers)


cli = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@cli.command()
def main(
    photos: Annotated[
        list[Path],
        typer.Argument(help="meal photos, each sent as a message after the first three", exists=True, dir_okay=False),
    ],
    sender: Annotated[str, typer.Option("--from", help="the sender's phone number")] = "+15550001",
    answer: Annotated[
        str,
        typer.Option(
            help="the reply to the first question about a food the model doesn't know; the photo is then sent "
            "again, to show the food named at once"
        ),
    ] = "it's coffee",
) -> None:
    """Start the bot, replay the conversation, print every reply, stop the bot."""
    instacart = ServerThread(InstacartStandIn(DEMO_INSTACART_KEY).app()).start()
    with tempfile.TemporaryDirectory(prefix="bot-demo-") as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        database_url = f"sqlite:///{tmp}/bot.sqlite3"
        env = {
            **os.environ,
            "BOT_PORT": str(port),
            "BOT_PUBLIC_URL": url,
            "BOT_TWILIO_AUTH_TOKEN": DEMO_TOKEN,
            "BOT_DATABASE_URL": database_url,
            "BOT_RECIPES_DIR": os.environ.get("BOT_RECIPES_DIR", str(RECIPES)),
            "BOT_INSTACART_API_KEY": DEMO_INSTACART_KEY,
            "BOT_INSTACART_BASE_URL": instacart.url,
            "BOT_AMAZON_FRESH_TAG": DEMO_AMAZON_TAG,
            "BOT_COACH": "local",
            "BOT_TIERS": _demo_tiers(len(photos) + 1),
            # simulate serves each photo from 127.0.0.1; a real bot downloads from Twilio's hosts only
            **LOOPBACK_MEDIA,
        }
        log = Path(tmp) / "bot.log"
        with log.open("w") as out:
            process = subprocess.Popen([sys.executable, "-m", "bot"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, process, log, timeout_s=60)
            messages = [m for step in SCRIPT for m in ([str(p) for p in photos] if step == "{photo}" else [step])]
            answered, listing = False, ""
            while messages:
                message = messages.pop(0)
                is_photo = message in {str(p) for p in photos}
                typer.secho(f"\n> {Path(message).name if is_photo else message}", fg=typer.colors.CYAN)
                # --linger: a photo is downloaded by the bot, maybe after its first answer; keep serving it a while
                sent = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bot.devtools.simulate",
                        message,
                        "--from",
                        sender,
                        "--url",
                        url,
                        "--timeout",
                        "60",
                        "--linger",
                        "3",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                typer.echo(sent.stdout.strip() or sent.stderr.strip())
                if sent.returncode != 0 or "couldn't analyse" in sent.stdout:
                    typer.echo(f"\nthe bot's log ends with:\n{log.read_text()[-2000:]}", err=True)
                    raise typer.Exit(1)
                if is_photo and ASKED in sent.stdout and not answered:
                    # answer the question, then send the same photo again: the food is now named at once
                    messages[:0] = [answer, message]
                    answered = True
                if message == "shopping list":
                    listing = sent.stdout
            _follow_a_link(listing, database_url)
        finally:
            process.terminate()
            process.wait(timeout=30)
            instacart.stop()


if __name__ == "__main__":
    cli()
