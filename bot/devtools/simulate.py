"""Send the bot a message exactly as Twilio would (signed form POST) and print its reply.

    python -m bot.devtools.simulate photo.jpg --from +15550001 --url http://localhost:8000
    python -m bot.devtools.simulate today --from +15550001

A photo is served to the bot from a tiny HTTP server on 127.0.0.1 that lives as long as this command; the bot
downloads only from Twilio's hosts unless it runs with the environment of `LOOPBACK_MEDIA`:

    BOT_MEDIA_HOSTS='["127.0.0.1"]' BOT_MEDIA_ALLOW_PRIVATE=true python -m bot

The signature uses BOT_TWILIO_AUTH_TOKEN and BOT_PUBLIC_URL, the same settings the bot reads.
"""

from __future__ import annotations

import http.server
import mimetypes
import secrets
import threading
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

import httpx
import typer
from twilio.request_validator import RequestValidator

from bot.photos.media import NOT_TWILIO
from bot.settings import WEBHOOK_PATH, BotSettings

# What a bot needs in its environment to download the photos this command serves (Twilio's hosts only by default).
LOOPBACK_MEDIA = {"BOT_MEDIA_HOSTS": '["127.0.0.1"]', "BOT_MEDIA_ALLOW_PRIVATE": "true"}


def twilio_form(
    sid: str,
    from_addr: str,
    to_addr: str,
    body: str = "",
    media: list[tuple[str, str]] = (),
    account_sid: str = "AC" + "0" * 32,
) -> dict[str, str]:
    """The fields Twilio posts for an inbound message (WhatsApp and SMS share them)."""
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": account_sid,
        "From": from_addr,
        "To": to_addr,
        "Body": body,
        "NumMedia": str(len(media)),
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    for i, (url, content_type) in enumerate(media):
        form[f"MediaUrl{i}"], form[f"MediaContentType{i}"] = url, content_type
    return form


def signed(form: dict[str, str], public_url: str, auth_token: str) -> tuple[bytes, dict[str, str]]:
    """The urlencoded body and headers of a webhook signed like Twilio signs it."""
    signature = RequestValidator(auth_token).compute_signature(public_url.rstrip("/") + WEBHOOK_PATH, form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return urlencode(form).encode(), headers


def reply_texts(twiml: str) -> list[str]:
    """The message bodies of a TwiML answer."""
    root = ET.fromstring(twiml)
    return ["".join(node.itertext()).strip() for node in root.iter("Message")]


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


@contextmanager
def serve_file(path: Path):
    """Serve `path` alone on 127.0.0.1 at an unguessable URL; yield (url, content type)."""
    data = path.read_bytes()
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    route = f"/{secrets.token_hex(8)}/{quote(path.name)}"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # the stdlib's name
            if self.path != route:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{route}", content_type
    finally:
        server.shutdown()
        server.server_close()


cli = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@cli.command()
def main(
    message: Annotated[str, typer.Argument(help="a photo file to send, or the text of a message", show_default=False)],
    from_: Annotated[str, typer.Option("--from", help="the sender's phone number")] = "+15550001",
    to: Annotated[str, typer.Option(help="the bot's phone number")] = "+14155238886",
    url: Annotated[
        str, typer.Option(help="where the bot listens (not necessarily its public URL)")
    ] = "http://localhost:8000",
    sms: Annotated[bool, typer.Option("--sms", help="send as SMS instead of WhatsApp")] = False,
    sid: Annotated[str | None, typer.Option(help="MessageSid; reuse one to replay a Twilio retry")] = None,
    linger: Annotated[float, typer.Option(help="keep serving the photo this many seconds after the reply")] = 0.0,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the reply")] = 20.0,
) -> None:
    """Sign and post one inbound message to the bot's webhook; print the reply text."""
    settings = BotSettings()
    token = settings.twilio_auth_token.get_secret_value()
    if not token:
        raise typer.BadParameter("set BOT_TWILIO_AUTH_TOKEN to the bot's auth token", param_hint="environment")
    prefix = "" if sms else "whatsapp:"
    path = Path(message)
    sid = sid or new_sid()
    with serve_file(path) if path.is_file() else _no_file() as media:
        form = twilio_form(
            sid,
            prefix + from_,
            prefix + to,
            "" if media else message,
            [media] if media else [],
            settings.twilio_account_sid or "AC" + "0" * 32,
        )
        body, headers = signed(form, settings.public_url, token)
        response = httpx.post(
            url.rstrip("/") + WEBHOOK_PATH, content=body, headers=headers, timeout=timeout, trust_env=False
        )
        if response.status_code != 200:
            typer.echo(f"bot answered {response.status_code}: {response.text[:300]}", err=True)
            raise typer.Exit(1)
        texts = reply_texts(response.text)
        if media and any(NOT_TWILIO in text for text in texts):
            # the bot refused the photo for where it is served from: say how to run it to take it
            hint = " ".join(f"{k}={v!r}" for k, v in LOOPBACK_MEDIA.items())
            typer.echo(f"(the bot downloads photos served from 127.0.0.1 only when it runs with {hint})", err=True)
        typer.echo("\n---\n".join(texts) if texts else "(no reply)")
        if media and linger:
            threading.Event().wait(linger)


@contextmanager
def _no_file():
    yield None


if __name__ == "__main__":
    cli()
