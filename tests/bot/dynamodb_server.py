"""A DynamoDB-compatible server for the store contract suite: moto's DynamoDB API served over HTTP on loopback.

It answers one request at a time (as DynamoDB applies each item write atomically), so a race the suite finds
is the adapter's: client threads still interleave their requests exactly as they would against DynamoDB.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from bot.devtools.standins import free_port

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class DynamoServer:
    """Start with `start()`, stop with `stop()`; `endpoint` is its URL."""

    def __init__(self, port: int):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", port, app, threaded=False, request_handler=MotoRequestHandler)
        self.endpoint = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="dynamodb-server", daemon=True)
        self._env: dict[str, str | None] = {}

    def start(self, timeout_s: float = 30.0) -> DynamoServer:
        for key, value in _FAKE_AWS.items():  # boto3 signs every request: fake keys, never real ones
            self._env[key] = os.environ.get(key)
            os.environ[key] = value
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while True:  # until it answers HTTP (any status: an unsigned GET is refused, and that is an answer)
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
                return self
            except urllib.error.HTTPError:
                return self
            except OSError as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the DynamoDB server at {self.endpoint} did not answer in {timeout_s} s"
                    ) from error
                time.sleep(0.05)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def dynamodb_endpoint():
    """The URL of a DynamoDB-compatible server on loopback, for the tests of one module."""
    try:
        server = DynamoServer(free_port()).start()
    except ImportError as error:  # moto[server] is in the `test` extra
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no DynamoDB-compatible server: {error} (pip install -e '.[test]')")
    yield server.endpoint
    server.stop()


def table_url(endpoint: str, page_size: int | None = None) -> str:
    """A `dynamodb://` URL of a table of its own (one per test) on the server at `endpoint`."""
    page = f"&page_size={page_size}" if page_size else ""
    return f"dynamodb://us-east-1?endpoint={endpoint}&table=t-{uuid.uuid4().hex[:12]}{page}"
