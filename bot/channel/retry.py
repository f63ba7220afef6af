"""Background worker: redo `pending` messages, send queued REST replies, delete deleted people's media at Twilio.

It runs from the app's startup, so whatever a stopped or crashed process left behind is picked up then
(a message leased by a dead process waits for its lease to expire).
"""

from __future__ import annotations

from bot.channel.delivery import Delivery
from bot.channel.media_purge import MediaPurge
from bot.channel.periodic import PeriodicWorker
from bot.channel.service import BotService


class RetryWorker(PeriodicWorker):
    name, what, left, drain = "bot-retry-worker", "retry pass", "its work stays pending", True

    def __init__(self, service: BotService, delivery: Delivery, poll_s: float, purge: MediaPurge | None = None):
        super().__init__(poll_s)
        self.service = service
        self.delivery = delivery
        self.purge = purge

    async def run_once(self) -> int:
        """One pass over what is due; returns how many messages and replies it tried."""
        busy = await self.service.retry_pending() + await self.delivery.retry_due()
        return busy + (await self.purge.run_due() if self.purge else 0)
