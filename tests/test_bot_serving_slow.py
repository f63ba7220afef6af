"""The bot against the REAL model server (`bentoml serve`), with a real ECUSTFD photo. Slow.

Skipped until serving/service.py exists and both models have a `champion` in the MLflow registry.
"""

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from bot_fixtures import ACCOUNT_SID, AUTH_TOKEN, BotHarness, Running, bot_settings
from conftest import SHARED_ECUSTFD
from tests_support import REPO

pytestmark = pytest.mark.slow

SERVICE = REPO / "serving" / "service.py"
PHOTO = "apple001S(1).JPG"


def _champions_missing() -> str | None:
    """Why the registry cannot serve yet, or None (also None for a remote tracking server: serving will tell)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///"))
    path = path if path.is_absolute() else REPO / path
    if not path.is_file():
        return f"no MLflow registry at {path}: run `dvc repro` to train and register the models"
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    wanted = {params[section]["model_name"] for section in ("register_detector", "register_portion")}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT name FROM registered_model_aliases WHERE alias = 'champion'").fetchall()
    except sqlite3.Error as exc:
        return f"cannot read the registry {path}: {exc}"
    missing = wanted - {name for (name,) in rows}
    return f"no `champion` alias for {sorted(missing)} in {path}" if missing else None


def _bento_target() -> str:
    match = re.search(r"@bentoml\.service\b[^\n]*(?:\n[^\n]*?)*?\nclass (\w+)", SERVICE.read_text())
    return f"serving.service:{match.group(1)}" if match else "serving.service"


@pytest.fixture(scope="module")
def real_model_server():
    if not SERVICE.is_file():
        pytest.skip("serving/service.py does not exist yet (the model server is its own issue)")
    if reason := _champions_missing():
        pytest.skip(reason)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "YOLO_OFFLINE": "1"}
    command = [sys.executable, "-m", "bentoml", "serve", _bento_target(), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"`{' '.join(command)}` did not become ready:\n{process.communicate()[0][-4000:]}")
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_real_photo_through_the_real_model_server(real_model_server, tmp_path):
    from bot.app import create_app
    from bot.sql_store import SqlStore
    from bot.standins import ServerThread, TwilioStandIn

    photo = SHARED_ECUSTFD / "JPEGImages" / PHOTO
    if not photo.is_file():
        pytest.skip(f"real ECUSTFD photo not found at {photo} (set ECUSTFD_DIR)")
    twilio = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN)  # Twilio stays a stand-in: media host and Messages API
    with ServerThread(twilio.app()) as twilio_server:
        settings = bot_settings(tmp_path / "bot.db", real_model_server, twilio_server.url, reply_budget_s=12.0,
                                analyze_timeout_s=30.0)  # fmt: skip
        with ServerThread(create_app(settings)) as server:
            store = SqlStore(settings.database_url)
            bot = BotHarness(settings, server, None, Running(twilio, twilio_server), store)
            started = time.perf_counter()
            (text,) = bot.send_photo(photo.read_bytes())
            elapsed = time.perf_counter() - started
            meals = store.meals(bot.user_id())
            store.dispose()
    print(f"real /analyze round trip through the bot: {elapsed:.2f} s\n{text}")
    assert not text.startswith("Sorry"), text  # neither "couldn't analyse now" nor a refused photo
    if meals:
        assert meals[0].items and "kcal" in text
    assert elapsed < 15
