"""The work of one bot replica with BOT_WORK_QUEUE=sqs: a consumer doing the items it receives, and a sweep
re-enqueueing what the database says is overdue (an item lost by SQS, or never sent because a process died
between its commit and the send). Any number of replicas run both; the store's claims decide who does what.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread

from bot.channel.delivery import Delivery
from bot.channel.media_purge import MediaPurge
from bot.channel.periodic import PeriodicWorker
from bot.channel.service import BotService
from bot.settings import BotSettings
from bot.storage.protocols import off_loop
from bot.storage.records import utcnow
from bot.workqueue.sqs import Received, SqsQueue, WorkItem

log = logging.getLogger(__name__)


class WorkConsumer(PeriodicWorker):
    """Receive items, do each one whose store claim succeeds, delete it; one not due yet is hidden until it is, one
    whose handling raised is left to come back after its visibility timeout (another replica may take it)."""

    name, what, left, drain = "bot-work-consumer", "work-queue pass", "its items come back after their timeout", True

    def __init__(self, settings: BotSettings, queue: SqsQueue, store, service: BotService, delivery: Delivery):
        super().__init__(poll_s=0.5)  # after an empty long poll, or a failed one
        self.settings, self.queue, self.store, self.service, self.delivery = settings, queue, store, service, delivery
        self.concurrency = 10  # items in hand at once (one receive's worth)
        self._busy: set[asyncio.Task] = set()

    async def handle(self, item: WorkItem) -> float | None:
        """Do `item` if the store says it is due and leases it to us: None when nothing is left to do (delete the
        item), else the seconds until it is due (hide it that long). Raises when the work failed unexpectedly."""
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.lease_s)
        if item.kind == "message":
            message, due_at = await off_loop(self.store.claim_message_if_due, item.key, now, lease)
            if message is not None:
                log.info("work queue: redoing %s (attempt %d)", message.sid, message.attempts)
                await self.service.redo(message)
                return None
        else:
            row, due_at = await off_loop(self.store.claim_outbound_if_due, int(item.key), now, lease)
            if row is not None:
                log.info("work queue: sending reply %s %s of %s", row.id, row.kind, row.message_sid)
                await self.delivery.attempt(row)  # a failure is rescheduled in the store, and enqueued again
                return None
        if due_at is None:
            return None  # done, delivered or given up on: by us before, by another replica, or by the webhook
        return max(1.0, (due_at - utcnow()).total_seconds())

    async def _receive(self, room: int) -> list[Received]:
        s = self.settings
        # abandon on cancel: a stop must not wait out a long poll; what it received comes back after its timeout
        return await anyio.to_thread.run_sync(
            lambda: self.queue.receive(room, s.sqs_wait_s, s.sqs_visibility_s), abandon_on_cancel=True
        )

    async def run_once(self) -> int:
        """Receive as many items as there is room for (a slow photo must not hold the rest up) and start each."""
        while len(self._busy) >= self.concurrency:
            await asyncio.wait(set(self._busy), return_when=asyncio.FIRST_COMPLETED)
        received = await self._receive(self.concurrency - len(self._busy))
        for r in received:
            task = asyncio.get_running_loop().create_task(self._one(r))
            self._busy.add(task)
            task.add_done_callback(self._busy.discard)
        return len(received)

    async def _one(self, r: Received) -> None:
        """Handle one received item and delete or hide it; never raises (the item comes back instead)."""
        try:
            if r.item is None:
                log.error("work queue: dropped a message that is no work item: %r", r.body[:200])
                result = None
            else:
                result = await self.handle(r.item)
            if result is None:
                await off_loop(self.queue.delete, [r.receipt])
            else:
                log.debug("work queue: %s %s due in %.0f s: hidden until then", r.item.kind, r.item.key, result)
                await off_loop(self.queue.hide, r.receipt, result)
        except Exception:
            kind, key = (r.item.kind, r.item.key) if r.item else ("?", r.message_id)
            log.exception(
                "work queue: %s %s failed (received %d times); it comes back within %d s",
                kind,
                key,
                r.receive_count,
                self.settings.sqs_visibility_s,
            )

    async def finish(self, timeout_s: float) -> None:
        """Let the items in hand finish (shutdown); those that don't come back to the queue after their timeout."""
        if self._busy:
            _, late = await asyncio.wait(set(self._busy), timeout=timeout_s)
            for task in late:
                task.cancel()


class WorkSweep(PeriodicWorker):
    """Every `work_sweep_s`: enqueue what has been due for `work_grace_s` and is still not taken, and delete
    deleted people's media at Twilio (leased rows, safe from any number of replicas)."""

    name, what, left = "bot-work-sweep", "work sweep", "the next sweep finds it"

    def __init__(self, settings: BotSettings, queue: SqsQueue, store, purge: MediaPurge | None = None):
        super().__init__(settings.work_sweep_s)
        self.settings, self.queue, self.store, self.purge = settings, queue, store, purge
        self._swept: dict[WorkItem, float] = {}  # what this sweep enqueued, when (monotonic)

    async def run_once(self) -> int:
        before = utcnow() - timedelta(seconds=self.settings.work_grace_s)
        sids, ids = await off_loop(self.store.overdue_work, before, 100)
        # An item enqueued by an earlier sweep is in the queue, or was received and is being done or waits hidden:
        # again only after a visibility timeout. Else a backlog (consumers behind, under load) floods the queue
        # with copies of itself every sweep, and the queue slows down the consumers further.
        now, again_s = time.monotonic(), float(self.settings.sqs_visibility_s)
        self._swept = {item: at for item, at in self._swept.items() if now - at < again_s}
        overdue = [WorkItem("message", sid) for sid in sids] + [WorkItem("reply", str(i)) for i in ids]
        items = [item for item in overdue if item not in self._swept]
        if items:
            await off_loop(self.queue.send, [(item, 0.0) for item in items])
            self._swept.update(dict.fromkeys(items, now))
            kinds = Counter(item.kind for item in items)
            log.info(
                "work sweep: re-enqueued %d overdue messages and %d overdue replies (%d more overdue, enqueued lately)",
                kinds["message"],
                kinds["reply"],
                len(overdue) - len(items),
            )
        return len(items) + (await self.purge.run_due() if self.purge else 0)


@dataclass
class QueueWorkers:
    """The consumer and the sweep, started and stopped together (the app's `worker`)."""

    consumer: WorkConsumer
    sweep: WorkSweep

    def start(self) -> None:
        self.consumer.start()
        self.sweep.start()

    async def stop(self, timeout_s: float = 5.0) -> None:
        await self.sweep.stop(timeout_s)
        await self.consumer.stop(timeout_s)
        await self.consumer.finish(timeout_s)
