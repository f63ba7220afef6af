"""The two commands people run: `python -m bot` and `python -m bot.devtools.simulate`, as real processes on
127.0.0.1, with a LOCAL STAND-IN of the model server's /analyze contract."""

import os
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from bot.chat_text import GSM7_BASIC, GSM7_EXTENSION
from bot.devtools.simulate import LOOPBACK_MEDIA, cli
from bot.devtools.standins import free_port


def test_simulate_sends_a_photo_and_a_text_like_twilio(bot, tmp_path, twilio_env):
    photo = tmp_path / "lunch.jpg"
    photo.write_bytes(bot.jpeg())
    runner = CliRunner()
    result = runner.invoke(cli, [str(photo), "--from", "+15550009", "--url", bot.server.url], env=twilio_env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Apple ~180 g (150–210 g), 94 kcal")
    result = runner.invoke(cli, ["today", "--from", "+15550009", "--url", bot.server.url, "--sms"], env=twilio_env)
    lines = result.output.strip().splitlines()
    assert lines[:2] == [
        "Today so far: 200 kcal in 1 meal (protein 2 g, fat 1 g, carbs 53 g)",
        "Left today: 1,800 of 2,000 kcal (default) (protein 98 g, fat 66 g, carbs 197 g)",
    ]
    assert all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in result.output)
    wrong = runner.invoke(cli, ["today", "--url", bot.server.url], env={**twilio_env, "BOT_TWILIO_AUTH_TOKEN": "nope"})
    assert wrong.exit_code == 1 and "403" in wrong.output


def test_python_m_bot_serves_and_simulate_talks_to_it(model_server, tmp_path, twilio_env, repo_root, jpeg):
    port = free_port()
    env = {
        **os.environ,
        **twilio_env,
        "PYTHONPATH": str(repo_root),
        "BOT_PORT": str(port),
        "BOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "BOT_SERVING_URL": model_server.url,
        **LOOPBACK_MEDIA,  # simulate serves the photo from 127.0.0.1
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"python -m bot did not come up:\n{server.stdout.read() if server.poll() is not None else ''}"
                )
            time.sleep(0.1)
        photo = tmp_path / "plate.png"
        photo.write_bytes(jpeg())  # content sniffed by the model server, type from the name
        done = subprocess.run(
            [sys.executable, "-m", "bot.devtools.simulate", str(photo), "--url", f"http://127.0.0.1:{port}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "Apple ~180 g" in done.stdout and "Today so far: 200 kcal" in done.stdout
    finally:
        server.terminate()
        server.wait(timeout=15)
