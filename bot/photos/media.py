"""Download a message's media from Twilio (basic auth), within a size limit and a list of image types."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx


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


class MediaFetcher:
    def __init__(
        self,
        http: httpx.AsyncClient,
        auth: tuple[str, str] | None,
        max_bytes: int,
        allowed_types: tuple[str, ...],
        timeout_s: float,
    ):
        self._http = http
        self._auth = auth
        self.max_bytes = max_bytes
        self.allowed_types = frozenset(base_type(t) for t in allowed_types)
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))

    def accepts(self, content_type: str | None) -> bool:
        return base_type(content_type) in self.allowed_types

    async def fetch(self, url: str, declared_type: str) -> Photo:
        """Raises:
        MediaRejected: a type we do not analyse, more than `max_bytes`, or a 4xx (the media is gone).
        MediaUnavailable: network error, timeout, 5xx.
        """
        if not self.accepts(declared_type):
            raise MediaRejected(f"I can only read photos, and that was {kind_of(declared_type)}")
        try:
            # Twilio answers with a redirect to its CDN; httpx drops the credentials on the other host.
            async with self._http.stream(
                "GET", url, auth=self._auth, follow_redirects=True, timeout=self._timeout
            ) as response:
                if response.status_code >= 500 or response.status_code in (408, 429):
                    raise MediaUnavailable(f"media download answered {response.status_code}")
                if response.status_code >= 400:
                    raise MediaRejected(f"I couldn't download that photo (error {response.status_code})")
                actual_type = base_type(response.headers.get("content-type")) or base_type(declared_type)
                if not self.accepts(actual_type):
                    raise MediaRejected(f"I can only read photos, and that was {kind_of(actual_type)}")
                length = response.headers.get("content-length")
                if length and length.isdigit() and int(length) > self.max_bytes:
                    raise MediaRejected(self._too_large(human_size(int(length))))
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise MediaRejected(self._too_large("over " + human_size(self.max_bytes)))
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"media download failed: {type(exc).__name__}: {exc}") from exc
        if size == 0:
            raise MediaRejected("the photo arrived empty")
        return Photo(b"".join(chunks), actual_type, url)

    def _too_large(self, size: str) -> str:
        return f"that photo is {size}; I can read photos up to {human_size(self.max_bytes)}"
