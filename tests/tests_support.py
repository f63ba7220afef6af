"""Constants the test modules share (conftest.py holds the fixtures)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
