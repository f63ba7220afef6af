"""Media downloads cannot be steered: host allowlist, redirects, credentials, addresses after DNS, deadline, size.

Real HTTP servers on 127.0.0.1 stand in for Twilio's API and CDN under made-up names that a faked resolver
(`bot.photos.media_hosts.resolve`) answers, so every download also shows the connection goes to the checked address;
`httpx.MockTransport` stands in where an address must look public.
"""

import asyncio
import base64
import ipaddress
import logging
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.devtools.standins import ServerThread
from bot.photos import media_hosts
from bot.photos.media import NOT_TWILIO, MediaFetcher, MediaRejected, MediaUnavailable
from bot.photos.media_hosts import HostList, is_public

AUTH = ("AC" + "1" * 32, "media-test-token")
BASIC = "Basic " + base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 2000
TEST_HOSTS = ("api.twilio.test", "*.cdn.test")
PUBLIC_V4, PUBLIC_V6 = "93.184.216.34", "2606:4700:4700::1111"


class Media:
    """The media host: what each request it got asked for, under which Host, with which Authorization."""

    def __init__(self):
        self.seen: list[tuple[str, str, str | None]] = []

    def app(self) -> Starlette:
        async def record(request: Request) -> None:
            self.seen.append((request.url.path, request.headers["host"], request.headers.get("authorization")))

        async def photo(request: Request) -> Response:
            await record(request)
            return Response(JPEG, media_type="image/jpeg")

        async def redirect(request: Request) -> Response:
            await record(request)
            return RedirectResponse(request.query_params["to"], status_code=307)

        async def drip(request: Request) -> Response:
            await record(request)

            async def bytes_slowly():
                for _ in range(33):  # a byte every 0.3 s for 10 s
                    yield b"\xff"
                    await asyncio.sleep(0.3)

            return StreamingResponse(bytes_slowly(), media_type="image/jpeg")

        async def big(request: Request) -> Response:
            await record(request)
            chunks = (b"\xff" * 65536 for _ in range(10))
            return StreamingResponse(chunks, media_type="image/jpeg")  # no Content-Length

        paths = {"/photo": photo, "/redirect": redirect, "/drip": drip, "/big": big}
        return Starlette(routes=[Route(path, endpoint) for path, endpoint in paths.items()])


@pytest.fixture(scope="module")
def server():
    media = Media()
    with ServerThread(media.app()) as running:
        yield media, running.port


@pytest.fixture
def host(server, monkeypatch):
    """`(media, url(name, path))`: the media server under a made-up host name that resolves to 127.0.0.1."""
    media, port = server
    media.seen.clear()
    answers = {"api.twilio.test": ["127.0.0.1"], "mms.cdn.test": ["127.0.0.2", "127.0.0.1"], "off.test": ["127.0.0.1"]}
    fake_dns(monkeypatch, answers)
    return media, lambda name, path: f"http://{name}:{port}{path}"


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Answer `resolve` from `answers`; return the names asked for."""
    asked = []

    async def resolve(name: str, port: int):
        asked.append(name)
        return [ipaddress.ip_address(a) for a in answers[name]]

    monkeypatch.setattr(media_hosts, "resolve", resolve)
    return asked


def fetch(url: str, transport: httpx.AsyncBaseTransport | None = None, **options):
    """`MediaFetcher.fetch(url)` with test options (the test hosts, loopback allowed) unless overridden."""
    options = {"hosts": TEST_HOSTS, "credential_hosts": ("api.twilio.test",), "allow_private": True, **options}
    max_bytes, timeout_s = options.pop("max_bytes", 100_000), options.pop("timeout_s", 5.0)

    async def run():
        async with httpx.AsyncClient(trust_env=False, transport=transport) as http:
            fetcher = MediaFetcher(http, AUTH, max_bytes, ("image/jpeg",), timeout_s, **options)
            return await fetcher.fetch(url, "image/jpeg")

    return asyncio.run(run())


def test_redirect_to_the_cdn_sends_the_credentials_to_the_api_host_only(host):
    media, url = host
    cdn = url("mms.cdn.test", "/photo")
    photo = fetch(url("api.twilio.test", f"/redirect?to={cdn}"))
    assert photo.data == JPEG and photo.content_type == "image/jpeg" and photo.url.startswith("http://api.twilio.test")
    (_, api_host, api_auth), (path, cdn_host, cdn_auth) = media.seen
    assert api_auth == BASIC and cdn_auth is None
    # reached through 127.0.0.1 (127.0.0.2 refused), the name the resolver was asked about kept as the Host
    assert path == "/photo" and api_host.startswith("api.twilio.test:") and cdn_host.startswith("mms.cdn.test:")


def test_a_host_off_the_list_is_refused_before_dns_or_any_request(monkeypatch, caplog):
    asked = fake_dns(monkeypatch, {})
    calls = []
    transport = httpx.MockTransport(lambda request: calls.append(request) or httpx.Response(200))
    with caplog.at_level(logging.WARNING, logger="bot.photos.media"), pytest.raises(MediaRejected) as refused:
        fetch("https://attacker.example/photo.jpg", transport, hosts=media_hosts.TWILIO_MEDIA_HOSTS)
    assert refused.value.reason == NOT_TWILIO and asked == [] and calls == []
    assert "'attacker.example' is not one of media_hosts" in caplog.text


def test_a_redirect_off_the_list_is_refused(host):
    media, url = host
    with pytest.raises(MediaRejected) as refused:
        fetch(url("api.twilio.test", f"/redirect?to={url('off.test', '/photo')}"))
    assert refused.value.reason == NOT_TWILIO
    assert [path for path, _, _ in media.seen] == ["/redirect"]


def test_more_redirects_than_allowed_are_refused(host):
    media, url = host
    loop = url("api.twilio.test", "/redirect?to=/redirect%3Fto%3D/photo")  # 2 redirects, then the photo
    with pytest.raises(MediaRejected, match="redirected"):
        fetch(loop, max_redirects=1)
    assert [path for path, _, _ in media.seen] == ["/redirect", "/redirect"]
    assert fetch(loop, max_redirects=2).data == JPEG


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.1.2.3"],
        ["127.0.0.1"],
        ["::1"],
        ["169.254.169.254"],
        ["::ffff:10.0.0.1"],
        ["fe80::1"],
        ["0.0.0.0"],
        ["224.0.0.1"],
        ["100.64.0.1"],
        [PUBLIC_V4, "192.168.1.1"],  # one non-public address is enough
    ],
)
def test_a_listed_host_that_resolves_to_a_non_public_address_is_refused(monkeypatch, caplog, addresses):
    fake_dns(monkeypatch, {"api.twilio.com": addresses})
    calls = []
    transport = httpx.MockTransport(lambda request: calls.append(request) or httpx.Response(200))
    with caplog.at_level(logging.WARNING, logger="bot.photos.media"), pytest.raises(MediaRejected) as refused:
        fetch(
            "https://api.twilio.com/2010-04-01/Media/ME1",
            transport,
            hosts=media_hosts.TWILIO_MEDIA_HOSTS,
            allow_private=False,
        )
    assert refused.value.reason == NOT_TWILIO and calls == []
    assert "resolves to non-public" in caplog.text and str(ipaddress.ip_address(addresses[-1])) in caplog.text


def test_public_hosts_are_reached_at_the_checked_address_over_https(monkeypatch):
    fake_dns(monkeypatch, {"api.twilio.com": [PUBLIC_V4], "mms.twiliocdn.com": [PUBLIC_V6]})
    seen = []

    def twilio(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers["host"], request.extensions["sni_hostname"]))
        seen.append(request.headers.get("authorization"))
        if request.headers["host"] == "api.twilio.com":
            return httpx.Response(302, headers={"location": "https://mms.twiliocdn.com/ME1?Signature=s"})
        return httpx.Response(200, content=JPEG, headers={"content-type": "image/jpeg"})

    twilio_defaults = {"hosts": media_hosts.TWILIO_MEDIA_HOSTS, "credential_hosts": ("api.twilio.com",)}
    photo = fetch(
        "https://api.twilio.com/Media/ME1", httpx.MockTransport(twilio), allow_private=False, **twilio_defaults
    )
    assert photo.data == JPEG
    assert seen == [
        (PUBLIC_V4, "api.twilio.com", "api.twilio.com"),
        BASIC,
        (PUBLIC_V6, "mms.twiliocdn.com", "mms.twiliocdn.com"),
        None,
    ]
    with pytest.raises(MediaRejected):  # plain http only to loopback
        fetch("http://api.twilio.com/Media/ME1", httpx.MockTransport(twilio), allow_private=False, **twilio_defaults)
    assert len(seen) == 4


def test_a_slow_drip_fails_at_the_total_deadline(host):
    _, url = host
    started = time.monotonic()
    with pytest.raises(MediaUnavailable, match="took over 1 s"):
        fetch(url("api.twilio.test", "/drip"), timeout_s=1.0)
    assert time.monotonic() - started < 2.0


def test_a_photo_without_content_length_is_cut_off_while_streaming(host):
    _, url = host
    with pytest.raises(MediaRejected, match="over 100 KB"):
        fetch(url("api.twilio.test", "/big"), max_bytes=100_000)


def test_host_patterns():
    hosts = HostList(("api.twilio.com", "*.twiliocdn.com", "::1"))
    assert all(hosts.matches(h) for h in ("API.Twilio.com.", "mms.twiliocdn.com", "a.b.twiliocdn.com", "[::1]"))
    assert not any(hosts.matches(h) for h in ("twiliocdn.com", "eviltwiliocdn.com", "api.twilio.com.evil.example"))
    for bad in ("https://api.twilio.com", "api.twilio.com:443", "*", "*.*.com", "api.twilio.com/media"):
        with pytest.raises(ValueError, match="neither a host name"):
            HostList((bad,))


@pytest.mark.parametrize(
    ("address", "public"),
    [
        (PUBLIC_V4, True),
        (PUBLIC_V6, True),
        ("172.16.0.1", False),
        ("::", False),
        ("ff02::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("2002:0a00:0001::1", False),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("240.0.0.1", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


def test_a_webhook_with_media_off_the_list_is_answered_and_finished(bot):
    name = bot.twilio.standin.add_media(bot.jpeg(), "image/jpeg")
    off_list = f"http://localhost:{bot.twilio.server.port}/media/{name}"  # the same server, a name not on the list
    form = bot.form(photos=[(off_list, "image/jpeg")])
    response = bot.post(form)
    assert response.status_code == 200
    assert "I can only download photos that Twilio hosts" in response.text
    assert bot.store.get_message(form["MessageSid"]).status == "rejected"
    assert bot.twilio.standin.media_requests == 0 and bot.model.standin.calls == 0
