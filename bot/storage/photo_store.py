"""The photos people send, kept by the bot itself under their sha256 (Twilio's media URLs expire): a local
directory by default, S3 or an S3-compatible server with `BOT_PHOTO_STORE=s3://bucket/prefix`.

Content-addressed, so the same photo sent twice is stored once; who refers to it is the database's business
(`stored_photos`), and bytes are deleted only when nobody does. Blocking: call with `off_loop`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PhotoStoreError(Exception):
    """The store could not keep or give back a photo (disk, network, permissions)."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checked(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


class PhotoStore(Protocol):
    def put(self, data: bytes, content_type: str) -> str:
        """Keep `data` (idempotent); return its sha256."""

    def get(self, sha256: str) -> bytes:
        """The bytes; KeyError when they are not stored."""

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None:
        """Remove the bytes; nothing happens when they are not stored."""


class LocalPhotoStore:
    """`root/ab/abcdef…` files, written atomically (temporary file, then rename)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        sha256 = _checked(sha256)
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, content_type: str) -> str:
        sha256 = sha256_of(data)
        path = self._path(sha256)
        if path.is_file():
            return sha256
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise PhotoStoreError(f"cannot write {path}: {exc}") from exc
        return sha256

    def get(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise KeyError(sha256) from None

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)


class S3PhotoStore:
    """Objects `prefix/sha256` in `bucket`, with their content type; any S3 API (`endpoint_url` for MinIO & co)."""

    def __init__(self, bucket: str, prefix: str = "", client=None, endpoint_url: str | None = None, region=None):
        if client is None:
            import boto3  # the bot extra has it; only this store needs it

            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, sha256: str) -> str:
        sha256 = _checked(sha256)
        return f"{self.prefix}/{sha256}" if self.prefix else sha256

    def put(self, data: bytes, content_type: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        sha256 = sha256_of(data)
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(sha256), Body=data, ContentType=content_type or "image/jpeg"
            )
        except (BotoCoreError, ClientError) as exc:
            raise PhotoStoreError(f"cannot put s3://{self.bucket}/{self._key(sha256)}: {exc}") from exc
        return sha256

    def get(self, sha256: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyError(sha256) from None
            raise PhotoStoreError(f"cannot get s3://{self.bucket}/{self._key(sha256)}: {exc}") from exc

    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise PhotoStoreError(f"cannot check s3://{self.bucket}/{self._key(sha256)}: {exc}") from exc
        return True

    def delete(self, sha256: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))
        except (BotoCoreError, ClientError) as exc:
            raise PhotoStoreError(f"cannot delete s3://{self.bucket}/{self._key(sha256)}: {exc}") from exc


def make_photo_store(location: str, endpoint_url: str | None = None, region: str | None = None) -> PhotoStore:
    """`s3://bucket/prefix` → S3PhotoStore; anything else is a local directory."""
    if location.startswith("s3://"):
        parsed = urlparse(location)
        if not parsed.netloc:
            raise ValueError(f"photo store {location!r} names no bucket (s3://bucket/prefix)")
        return S3PhotoStore(parsed.netloc, parsed.path, endpoint_url=endpoint_url, region=region)
    return LocalPhotoStore(location)
