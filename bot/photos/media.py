"""Download a message's media from Twilio's hosts only, within a size limit, a deadline and a list of image types.

Nobody can steer a download through a MediaUrl: every URL, the first and each redirect (followed here, at most
`max_redirects`), must name a host on the allowlist over https (plain http only to loopback), and every address the
host resolves to must be public, unless `allow_private` (tests, the local demo). The account credentials go only to
the `credential_hosts`. The connection goes to the address that was checked (the URL's host is replaced by it, the
Host header and the TLS server name, SNI and certificate check included, stay the host's), so DNS cannot rebind the
name between check and connect. Residual risk: httpx pools connections by address, so a kept-alive connection to an
address may carry a request for another allowed host that resolved to the same address, without a fresh certificate
check for that name.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
from dataclasses import dataclass

import httpx

from bot.photos import media_hosts
from bot.photos.media_hosts import TWILIO_CREDENTIAL_HOSTS, TWILIO_MEDIA_HOSTS, HostList, IPAddress, normalise_host

log = logging.getLogger(__name__)

NOT_TWILIO = "I can only download photos that Twilio hosts"
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


class MediaRejected(Exception):
    """The attachment cannot be analysed (not an image, too large, gone); `reason` is fit for the person."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MediaUnavailable(Exception):
    """The download failed in a way that may pass (network, 5xx): retry later."""


@dataclass(frozen=True)
class Photo:
    data: bytes
    content_type: str
    url: str

    def reference(self) -> dict:
        """What the meal log keeps of the photo (Twilio keeps the bytes at `url`)."""
        sha256 = hashlib.sha256(self.data).hexdigest()
        return {"url": self.url, "content_type": self.content_type, "bytes": len(self.data), "sha256": sha256}


def base_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def human_size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB"


def kind_of(content_type: str) -> str:
    """'a PDF', 'a video'... for telling people what they sent."""
    major, _, minor = base_type(content_type).partition("/")
    if minor == "pdf":
        return "a PDF"
    if major in ("video", "audio"):
        return f"an {major}" if major == "audio" else "a video"
    if major == "image":
        return f"a {minor.upper()} image"
    return "a file"


def _shown(url: httpx.URL) -> str:
    """The URL for the log, without its query (a CDN URL's query is a signature that grants access)."""
    return str(url.copy_with(query=None, userinfo=b""))


class MediaFetcher:
    def __init__(
        self,
        http: httpx.AsyncClient,
        auth: tuple[str, str] | None,
        max_bytes: int,
        allowed_types: tuple[str, ...],
        timeout_s: float,
        hosts: tuple[str, ...] = TWILIO_MEDIA_HOSTS,
        credential_hosts: tuple[str, ...] = TWILIO_CREDENTIAL_HOSTS,
        allow_private: bool = False,
        max_redirects: int = 5,
        noun: str = "photo",
    ):
        """Args:
            http: the client to download with; it must not use a proxy (the connection goes to a checked address).
            auth: the Twilio account's (sid, token), sent only to `credential_hosts`.
            max_bytes: the largest photo accepted.
            allowed_types: the image types analysed.
            timeout_s: the deadline of a whole download, redirects included.
            hosts: where media may come from, exact hosts or `*.suffix`.
            credential_hosts: the hosts (of `hosts`) that get `auth`.
            allow_private: allow private, loopback and link-local addresses.
            max_redirects: redirects followed before giving up.
            noun: what the media is, in what people are told ("photo", "voice note").

        Raises:
            ValueError: a host pattern that is not one.
        """
        self._http = http
        self._auth = auth
        self.max_bytes = max_bytes
        self.allowed_types = frozenset(base_type(t) for t in allowed_types)
        self.timeout_s = timeout_s
        self.hosts = HostList(hosts)
        self.credential_hosts = HostList(credential_hosts)
        self.allow_private = allow_private
        self.max_redirects = max_redirects
        self.noun = noun
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))

    def accepts(self, content_type: str | None) -> bool:
        return base_type(content_type) in self.allowed_types

    async def fetch(self, url: str, declared_type: str) -> Photo:
        """Download the photo at `url` (a MediaUrl), following redirects to allowed hosts only.

        Raises:
            MediaRejected: a host or address we do not download from, a type we do not analyse, more than
                `max_bytes`, too many redirects, or a 4xx (the media is gone).
            MediaUnavailable: network or DNS error, past the deadline, 5xx, 408, 429.
        """
        if not self.accepts(declared_type):
            raise MediaRejected(f"I can only read {self.noun}s, and that was {kind_of(declared_type)}")
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._follow(url, declared_type)
        except TimeoutError as exc:
            # Only an allowed, public host gets this far, so a slow drip is Twilio's CDN or the network being slow:
            # that passes. Unavailable retries later (a bounded number of times, then the person is told), while a
            # refusal would drop a good photo for good; the deadline itself keeps a worker from being held.
            log.warning("media download of %s took over %.1f s", url, self.timeout_s)
            raise MediaUnavailable(f"media download took over {self.timeout_s:g} s") from exc
        except httpx.InvalidURL as exc:
            log.warning("refused media URL %r: %s", url, exc)
            raise MediaRejected(NOT_TWILIO) from exc
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"media download failed: {type(exc).__name__}: {exc}") from exc

    async def _follow(self, url: str, declared_type: str) -> Photo:
        current = httpx.URL(url)
        for _ in range(self.max_redirects + 1):
            response = await self._get(current)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    current = current.join(location)
                    continue
                return await self._read(response, url, declared_type)
            finally:
                await response.aclose()
        log.warning("media download of %s: more than %d redirects, the last to %s", url, self.max_redirects, current)
        raise MediaRejected(f"I couldn't download that {self.noun} (it kept being redirected)")

    async def _checked_addresses(self, url: httpx.URL, host: str) -> list[IPAddress]:
        """The addresses of `url`'s host, after the scheme, host and address checks."""
        if url.scheme not in ("http", "https") or not self.hosts.matches(host):
            log.warning("refused media URL %s: host %r is not one of media_hosts %s", _shown(url), host, self.hosts)
            raise MediaRejected(NOT_TWILIO)
        try:
            addresses = await media_hosts.resolve(host, url.port or (443 if url.scheme == "https" else 80))
        except socket.gaierror as exc:
            raise MediaUnavailable(f"media host {host!r} does not resolve: {exc}") from exc
        refused = [str(a) for a in addresses if not (media_hosts.is_public(a) or self._private_ok(a))]
        if refused or not addresses:
            log.warning("refused media URL %s: %r resolves to non-public %s", _shown(url), host, refused)
            raise MediaRejected(NOT_TWILIO)
        if url.scheme == "http" and not all(media_hosts.is_loopback(a) for a in addresses):
            log.warning("refused media URL %s: plain http to a host that is not loopback", _shown(url))
            raise MediaRejected(NOT_TWILIO)
        return addresses

    def _private_ok(self, address: IPAddress) -> bool:
        return self.allow_private and not (address.is_multicast or address.is_unspecified)

    async def _get(self, url: httpx.URL) -> httpx.Response:
        """GET `url` from an address its host was checked to have, trying the next one when one refuses."""
        host = normalise_host(url.raw_host.decode("ascii"))
        addresses = await self._checked_addresses(url, host)
        headers = {"Host": url.netloc.decode("ascii")}
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        # Per host, not per download: a redirect from api.twilio.com to its CDN sends the CDN no credentials.
        auth = self._auth if self.credential_hosts.matches(host) else None
        for i, address in enumerate(addresses):
            pinned = url.copy_with(host=str(address), userinfo=b"")
            request = self._http.build_request(
                "GET", pinned, headers=headers, timeout=self._timeout, extensions=extensions
            )
            try:
                return await self._http.send(request, auth=auth, stream=True, follow_redirects=False)
            except httpx.ConnectError:
                if i == len(addresses) - 1:
                    raise
                log.info("media host %r: %s refused the connection, trying the next address", host, address)
        raise AssertionError("unreachable: a host always resolves to at least one address here")

    async def _read(self, response: httpx.Response, url: str, declared_type: str) -> Photo:
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise MediaUnavailable(f"media download answered {response.status_code}")
        if response.status_code >= 300:
            raise MediaRejected(f"I couldn't download that {self.noun} (error {response.status_code})")
        actual_type = base_type(response.headers.get("content-type")) or base_type(declared_type)
        if not self.accepts(actual_type):
            raise MediaRejected(f"I can only read {self.noun}s, and that was {kind_of(actual_type)}")
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise MediaRejected(self._too_large(human_size(int(length))))
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise MediaRejected(self._too_large("over " + human_size(self.max_bytes)))
            chunks.append(chunk)
        if size == 0:
            raise MediaRejected(f"the {self.noun} arrived empty")
        return Photo(b"".join(chunks), actual_type, url)

    def _too_large(self, size: str) -> str:
        return f"that {self.noun} is {size}; I can read {self.noun}s up to {human_size(self.max_bytes)}"
