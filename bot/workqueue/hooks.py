"""`QueueingStore`: the bot's store, telling the work queue about each write that schedules work — a photo gone
`pending` for a retry, a reply entering the outbox, a REST send rescheduled — once that write has committed.

An item sent before its commit could be received and found not due (then dropped); one lost with a crash after
the commit is found by the sweep. So the store stays the record of what is due, and the queue its wake-up call.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from bot.storage.records import OutboundRecord
from bot.storage.sql.outbox import QUEUED, SENDING
from bot.workqueue.sqs import QueueUnavailable, SqsQueue, WorkItem

log = logging.getLogger(__name__)

# The items written inside the unit of work open in this context, sent when it commits (dropped if it rolls back).
_UNSENT: ContextVar[list[tuple[WorkItem, datetime, datetime]] | None] = ContextVar("bot_work_unsent", default=None)


class QueueingStore:
    """Every store call goes to `store`; the three that schedule work also enqueue an item, delayed until due."""

    def __init__(self, store, queue: SqsQueue):
        self._store = store
        self.queue = queue

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    @property
    def inner(self):
        """The store this one wraps."""
        return self._store

    @contextmanager
    def unit_of_work(self):
        if _UNSENT.get() is not None:  # nested: the outer block sends
            with self._store.unit_of_work():
                yield
            return
        token = _UNSENT.set([])
        try:
            with self._store.unit_of_work():
                yield
            unsent = _UNSENT.get()
        finally:
            _UNSENT.reset(token)
        self._send(unsent)

    def schedule_retry(self, sid: str, error: str, next_attempt_at: datetime, now: datetime) -> None:
        self._store.schedule_retry(sid, error, next_attempt_at, now)
        self._due(WorkItem("message", sid), next_attempt_at, now)

    def enqueue_outbound(
        self, sid, kind, to_addr, from_addr, body, now, lease_until, user_id=None
    ) -> OutboundRecord | None:
        row = self._store.enqueue_outbound(sid, kind, to_addr, from_addr, body, now, lease_until, user_id)
        if row is not None:  # leased to its writer (the webhook answers it, or it is sent now): due when that ends
            self._due(WorkItem("reply", str(row.id)), lease_until or now, now)
        return row

    def mark_outbound(
        self, outbound_id, status, now, twilio_sid=None, error=None, next_attempt_at=None, lease_until=None
    ) -> None:
        self._store.mark_outbound(outbound_id, status, now, twilio_sid, error, next_attempt_at, lease_until)
        if status in (QUEUED, SENDING) and (next_attempt_at or lease_until):  # a failed send, tried again later
            due = max(x for x in (next_attempt_at, lease_until) if x is not None)
            self._due(WorkItem("reply", str(outbound_id)), due, now)

    def _due(self, item: WorkItem, due: datetime, now: datetime) -> None:
        unsent = _UNSENT.get()
        if unsent is not None:
            unsent.append((item, due, now))
        else:
            self._send([(item, due, now)])

    def _send(self, unsent: list[tuple[WorkItem, datetime, datetime]]) -> None:
        if not unsent:
            return
        items = [(item, (due - now).total_seconds()) for item, due, now in unsent]
        try:
            self.queue.send(items)
        except QueueUnavailable as exc:  # committed all the same: the sweep re-enqueues it once it is overdue
            log.warning("%d work items not enqueued (the sweep will find them): %s", len(items), exc)
            return
        log.debug("enqueued %s", ", ".join(f"{i.kind} {i.key} in {d:.0f} s" for i, d in items))
