"""One install per deployable: what pip would install for each extra, resolved against constraints.txt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "torchvision", "ultralytics", "mlflow", "dvc", "bentoml"}

pytestmark = pytest.mark.slow


def resolved(extra: str, tmp_path: Path) -> set[str]:
    """Names of the distributions `pip install -c constraints.txt '.[extra]'` would install in an empty venv."""
    report = tmp_path / f"{extra}.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
            "-c",
            str(REPO / "constraints.txt"),
            f"{REPO}[{extra}]",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 and "No matching distribution" in result.stderr + result.stdout:
        pytest.skip(f"no package index reachable: {result.stderr[-300:]}")
    assert result.returncode == 0, result.stderr[-3000:]
    return {item["metadata"]["name"].lower().replace("_", "-") for item in json.loads(report.read_text())["install"]}


def test_the_bot_installs_without_the_ml_stack(tmp_path):
    names = resolved("bot", tmp_path)
    assert {"fastapi", "twilio", "sqlalchemy", "boto3", "pandas"} <= names
    assert not names & HEAVY, sorted(names & HEAVY)


def test_the_model_server_installs_without_dvc(tmp_path):
    names = resolved("serve", tmp_path)
    assert {"torch", "bentoml", "mlflow", "ultralytics"} <= names
    assert "dvc" not in names and "dvclive" not in names
