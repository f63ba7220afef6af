"""Background worker: redo `pending` messages, send queued REST replies, delete deleted people's media at Twilio.

It runs from the app's startup, so whatever a stopped or crashed process left behind is picked up then
(a message leased by a dead process waits for its lease to expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.channel.delivery import Delivery
from bot.channel.media_purge import MediaPurge
from bot.channel.service import BotService

log = logging.getLogger(__name__)


class RetryWorker:
    def __init__(self, service: BotService, delivery: Delivery, poll_s: float, purge: MediaPurge | None = None):
        self.service = service
        self.delivery = delivery
        self.purge = purge
        self.poll_s = poll_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def run_once(self) -> int:
        """One pass over what is due; returns how many messages and replies it tried."""
        busy = await self.service.retry_pending() + await self.delivery.retry_due()
        return busy + (await self.purge.run_due() if self.purge else 0)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = await self.run_once()
            except Exception:  # the worker must outlive a bad pass (database locked, a bug in one message)
                log.exception("retry pass failed")
                busy = 0
            if busy:
                continue  # more may be due: drain before sleeping
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="bot-retry-worker")

    async def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, timeout_s)
        except TimeoutError:
            log.warning("retry worker still busy after %.0f s; cancelled (its work stays pending)", timeout_s)
