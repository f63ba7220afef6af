"""Polling for what a bot does in the background (the outbox, the retry worker, the scheduler): tests wait for
the state they assert on instead of sleeping a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str = "condition", timeout_s: float = 15.0) -> T:
    """Call `condition` until it returns something truthy and return that; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        if found := condition():
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"never happened within {timeout_s:g} s: {what}")
        time.sleep(0.02)
