"""A background task of the app that runs one pass every `poll_s` until stopped, outliving a failed pass."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class PeriodicWorker:
    """Subclasses say what one pass does (`run_once`); `drain`: a busy pass is followed at once by another."""

    name = "bot-worker"
    what = "a pass"  # for the log: "retry pass failed", "billing check failed"
    left = "it runs again at the next start"  # what becomes of the work when a stop cuts it short
    drain = False

    def __init__(self, poll_s: float):
        self.poll_s = poll_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def run_once(self) -> int:
        """One pass over what is due; how much it tried."""
        raise NotImplementedError

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = await self.run_once()
            except Exception:  # outlive a bad pass (database locked, a provider down, a bug in one message)
                log.exception("%s failed", self.what)
                busy = 0
            if busy and self.drain:
                continue  # more may be due: drain before sleeping
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, timeout_s)
        except TimeoutError:
            # wait_for has cancelled the task
            log.warning("%s still busy after %.0f s; cancelled (%s)", self.name, timeout_s, self.left)
