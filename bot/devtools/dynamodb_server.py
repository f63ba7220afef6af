"""A LOCAL DynamoDB-compatible server: moto's DynamoDB API over HTTP on loopback, answering one request at a time.

    python -m bot.devtools.dynamodb_server --port 8000

One request at a time, as DynamoDB applies each item write atomically: a race found against it is the caller's
(client threads and processes still interleave their requests as they would against DynamoDB). In memory: its
tables go when it stops. `GET /healthz` answers 200; `POST /faults/throttle?seconds=N` makes it answer every
DynamoDB request for N seconds with ProvisionedThroughputExceededException (HTTP 400), as DynamoDB does above a
table's throughput and AWS SDKs back off and retry (benchmarks/faults.py uses it).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Annotated
from urllib.parse import parse_qs

import typer

THROTTLED = {
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded (local stand-in fault)",
}


class Faults:
    """WSGI middleware in front of moto: the health check, and throttling on demand."""

    def __init__(self, app):
        self.app = app
        self.throttled_until = 0.0
        self.throttled = 0  # requests refused so far

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz":
            return self._answer(start_response, "200 OK", {"ok": True, "throttled": self.throttled})
        if path == "/faults/throttle" and method == "POST":
            seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["0"])[-1])
            self.throttled_until = time.monotonic() + seconds
            return self._answer(start_response, "200 OK", {"throttled_for_s": seconds})
        if time.monotonic() < self.throttled_until:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            environ["wsgi.input"].read(length)  # a kept-alive connection must not see the body as its next request
            self.throttled += 1
            return self._answer(start_response, "400 Bad Request", THROTTLED)
        return self.app(environ, start_response)

    @staticmethod
    def _answer(start_response, status: str, body: dict):
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))])
        return [data]


def make_dynamodb_server(port: int):
    """A werkzeug server of moto's DynamoDB API (behind `Faults`) on 127.0.0.1:`port`, not yet serving."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = Faults(DomainDispatcherApplication(create_backend_app))
    return make_server("127.0.0.1", port, app, threaded=False, request_handler=MotoRequestHandler)


class DynamoServer:
    """The server in a daemon thread of this process: `start()`, `stop()`; `endpoint` is its URL."""

    def __init__(self, port: int):
        self._server = make_dynamodb_server(port)
        self.endpoint = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="dynamodb-server", daemon=True)

    def start(self, timeout_s: float = 30.0) -> DynamoServer:
        self._thread.start()
        wait_until_up(self.endpoint, timeout_s)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def wait_until_up(endpoint: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(endpoint + "/healthz", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # an answer all the same
        except OSError as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the DynamoDB server at {endpoint} did not answer in {timeout_s} s") from error
            time.sleep(0.05)


def main(port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8000) -> None:
    """Serve until killed."""
    server = make_dynamodb_server(port)
    typer.echo(f"DynamoDB-compatible server (moto, one request at a time) on http://127.0.0.1:{port}")
    server.serve_forever()


if __name__ == "__main__":
    typer.run(main)
