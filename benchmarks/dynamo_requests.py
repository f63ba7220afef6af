"""DynamoDB requests per message: what one photo message and one text message cost the production store.

    PYTHONPATH=. python benchmarks/dynamo_requests.py         # against moto's DynamoDB API on loopback
    PYTHONPATH=. python benchmarks/dynamo_requests.py --endpoint http://127.0.0.1:8000   # any compatible server

The bot runs in this process (as benchmarks/webhook.py runs it) on a fresh table; the model server and Twilio are
LOCAL STAND-INS. Every DynamoDB call the bot makes is counted by operation (a botocore event hook), from the
webhook until the reply is delivered, and divided by the messages sent.
"""

from __future__ import annotations

import collections
import io
import logging
import os
import time
import uuid
from typing import Annotated

import boto3
import httpx
import typer
from PIL import Image

from bot.app import create_app
from bot.devtools.simulate import new_sid, reply_texts, signed, twilio_form
from bot.devtools.standins import ModelServerStandIn, ServerThread, TwilioStandIn, free_port
from bot.settings import WEBHOOK_PATH, BotSettings
from bot.storage.dynamo.store import DynamoStore

TOKEN, ACCOUNT, PUBLIC = "bench-token", "AC" + "d" * 32, "https://bot.bench.test"


def _moto_server():
    from moto.server import ThreadedMotoServer

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def main(
    endpoint: Annotated[
        str | None, typer.Option(help="a DynamoDB-compatible server (default: moto's, started here)")
    ] = None,
    messages: Annotated[int, typer.Option(help="messages of each kind", min=1, max=200)] = 10,
) -> None:
    """Count DynamoDB requests per photo message and per text message, by operation."""
    server = None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log
    if endpoint is None:
        server, endpoint = _moto_server()
    counts: dict[str, collections.Counter] = {}
    current: list[collections.Counter] = []

    def count(model, **_):
        if current:
            current[0][model.name] += 1

    boto3.setup_default_session(region_name="us-east-1")
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", count)  # every client made from now on
    url = f"dynamodb://us-east-1?endpoint={endpoint}&table=bench-{uuid.uuid4().hex[:8]}"
    DynamoStore(url).create_tables()
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), "orange").save(buffer, format="JPEG")
    twilio, model = TwilioStandIn(ACCOUNT, TOKEN), ModelServerStandIn()
    try:
        with ServerThread(twilio.app()) as twilio_server, ServerThread(model.app()) as model_server:
            settings = BotSettings(
                public_url=PUBLIC,
                database_url=url,
                twilio_account_sid=ACCOUNT,
                twilio_auth_token=TOKEN,
                twilio_api_base_url=twilio_server.url,
                serving_url=model_server.url,
                media_hosts=("127.0.0.1",),
                media_credential_hosts=("127.0.0.1",),
                media_allow_private=True,
            )
            media = f"{twilio_server.url}/media/{twilio.add_media(buffer.getvalue(), 'image/jpeg')}"
            with ServerThread(create_app(settings)) as bot:
                for kind, body, photos in (("photo", "", [(media, "image/jpeg")]), ("text", "today", [])):
                    counts[kind] = collections.Counter()
                    current[:] = [counts[kind]]
                    for i in range(messages):
                        form = twilio_form(
                            new_sid(), f"whatsapp:+1555030{i:04d}", "whatsapp:+1415", body, photos, ACCOUNT
                        )
                        data, headers = signed(form, PUBLIC, TOKEN)
                        response = httpx.post(
                            bot.url + WEBHOOK_PATH, content=data, headers=headers, timeout=30, trust_env=False
                        )
                        if response.status_code != 200 or not reply_texts(response.text):
                            raise typer.Exit(f"no reply to {kind} message {i}: {response.status_code}")
                    time.sleep(0.5)  # the TwiML rows are marked delivered just after the response
                    current[:] = []
    finally:
        if server is not None:
            server.stop()
    operations = sorted({op for c in counts.values() for op in c})
    typer.echo(f"DynamoDB requests per message ({messages} of each, each from a new person), by operation:")
    typer.echo(f"{'operation':<22}" + "".join(f"{kind:>8}" for kind in counts))
    for op in operations:
        typer.echo(f"{op:<22}" + "".join(f"{c[op] / messages:>8.1f}" for c in counts.values()))
    typer.echo(f"{'total':<22}" + "".join(f"{sum(c.values()) / messages:>8.1f}" for c in counts.values()))


if __name__ == "__main__":
    typer.run(main)
