"""Run `bentoml serve` on a free localhost port for as long as a `with` block lasts (tests, benchmark, make run)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
TARGET = "serving.service:PlateCoach"


class ServerFailed(RuntimeError):
    """`bentoml serve` exited or did not become ready in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(
    env: dict[str, str] | None = None, *, port: int | None = None, timeout_s: float = 240, target: str = TARGET
) -> Iterator[str]:
    """Yield the base URL of a ready server; stop it (and its worker processes) afterwards.

    Raises:
        ServerFailed: the server exited, or `/readyz` did not answer 200 within `timeout_s`.
    """
    port = port or free_port()
    full_env = {
        **os.environ,
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        **(env or {}),
    }
    command = [sys.executable, "-m", "bentoml", "serve", target, "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile(mode="w+") as log:  # a file, not a pipe: an unread pipe would block the server
        process = subprocess.Popen(
            command, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    if httpx.get(url + "/readyz", timeout=2, trust_env=False).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise ServerFailed(f"`{' '.join(command)}` did not become ready:\n{log.read()[-4000:]}")
                time.sleep(0.5)
            yield url
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # the group this call started: server and its workers
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
