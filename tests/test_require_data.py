"""PLATE_REQUIRE_DATA=1 (set by .ci/run) turns "real data absent" skips into failures; without it they skip.

A tiny test file using the data fixtures of tests/conftest.py runs in a pytest subprocess, ECUSTFD_DIR pointing
at an empty folder, once with the variable and once without.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TINY = """
def test_ecustfd(ecustfd_dir):
    pass


def test_tiny_models(tiny_models):
    pass


def test_photo(photo_bytes):
    photo_bytes("apple001S(1).JPG")
"""


def outcomes(tmp_path: Path, require: str | None) -> dict[str, str]:
    """{test name: passed | skipped | failed} and the messages, for the tiny file under this setting."""
    (tmp_path / "empty").mkdir(exist_ok=True)
    (tmp_path / "test_tiny.py").write_text(TINY)
    report = tmp_path / f"report-{require}.xml"
    env = {k: v for k, v in os.environ.items() if k != "PLATE_REQUIRE_DATA"}
    # The repository first: tests/nutrition/ (no __init__.py) must not shadow the nutrition package.
    env.update(ECUSTFD_DIR=str(tmp_path / "empty"), PYTHONPATH=os.pathsep.join([str(TESTS.parent), str(TESTS)]))
    if require is not None:
        env["PLATE_REQUIRE_DATA"] = require
    pytest_args = ["-p", "conftest", "-p", "no:cacheprovider", "-q", f"--junitxml={report}", "--rootdir", str(tmp_path)]
    subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, str(tmp_path / "test_tiny.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = {}
    for case in ET.parse(report).iter("testcase"):
        found = [child for child in case if child.tag in ("skipped", "failure", "error")]
        state = {"skipped": "skipped", "failure": "failed", "error": "failed"}[found[0].tag] if found else "passed"
        result[case.get("name")] = (state, found[0].get("message", "") if found else "")
    return result


@pytest.mark.parametrize("require", [None, "0"])
def test_absent_data_skips_by_default(tmp_path, require):
    result = outcomes(tmp_path, require)
    assert {name: state for name, (state, _) in result.items()} == dict.fromkeys(
        ("test_ecustfd", "test_tiny_models", "test_photo"), "skipped"
    ), result
    assert all("real ECUSTFD" in message and "ECUSTFD_DIR" in message for _, message in result.values()), result


def test_absent_data_fails_when_required(tmp_path):
    result = outcomes(tmp_path, "1")
    assert {name: state for name, (state, _) in result.items()} == dict.fromkeys(
        ("test_ecustfd", "test_tiny_models", "test_photo"), "failed"
    ), result
    assert all("real ECUSTFD" in message and "PLATE_REQUIRE_DATA" in message for _, message in result.values()), result
