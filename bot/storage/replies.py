"""Queue a reply to a message into the outbox, inside the caller's unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.storage.protocols import OutboxStore
from bot.storage.records import MessageRecord, OutboundRecord


def queue_reply(
    store: OutboxStore,
    message: MessageRecord,
    kind: str,
    reply: str | Sequence[str] | None,
    now: datetime,
    lease_s: float,
) -> tuple[OutboundRecord, ...]:
    """Put a reply to `message` in the outbox (inside the caller's unit of work), one row per message part (`kind`,
    `kind-2`, …), leased to the caller for `lease_s`: if the caller dies, the delivery worker sends it by REST."""
    parts = [reply] if isinstance(reply, str) else list(reply or ())
    lease = now + timedelta(seconds=lease_s)
    rows = []
    for i, body in enumerate(p for p in parts if p):
        part = kind if i == 0 else f"{kind}-{i + 1}"
        row = store.enqueue_outbound(
            message.sid, part, message.from_addr, message.to_addr, body, now, lease, message.user_id
        )
        if row is not None:
            rows.append(row)
    return tuple(rows)
