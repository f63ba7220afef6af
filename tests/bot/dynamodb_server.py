"""A DynamoDB-compatible server for the store contract suite (`bot.devtools.dynamodb_server`: moto's DynamoDB API
over HTTP on loopback, one request at a time, so a race the suite finds is the adapter's), and fake AWS keys."""

from __future__ import annotations

import os
import uuid

import pytest

from bot.devtools.standins import free_port

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def dynamodb_endpoint():
    """The URL of a DynamoDB-compatible server on loopback, for the tests of one module."""
    saved = {key: os.environ.get(key) for key in _FAKE_AWS}
    os.environ.update(_FAKE_AWS)  # boto3 signs every request: fake keys, never real ones
    try:
        try:
            from bot.devtools.dynamodb_server import DynamoServer

            server = DynamoServer(free_port()).start()
        except ImportError as error:  # moto[server] is in the `test` extra
            if os.environ.get("CI") == "true":
                raise
            pytest.skip(f"no DynamoDB-compatible server: {error} (pip install -e '.[test]')")
        try:
            yield server.endpoint
        finally:
            server.stop()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def table_url(endpoint: str, page_size: int | None = None) -> str:
    """A `dynamodb://` URL of a table of its own (one per test) on the server at `endpoint`."""
    page = f"&page_size={page_size}" if page_size else ""
    return f"dynamodb://us-east-1?endpoint={endpoint}&table=t-{uuid.uuid4().hex[:12]}{page}"
