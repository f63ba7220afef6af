"""The work items on SQS (boto3, blocking: call from a thread): send with a delay, receive with a visibility
timeout, delete what was done, hide what is not due yet. An item names work; it carries no state of its own."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

MAX_DELAY_S = 900  # SQS's DelaySeconds cap: an item due later comes earlier and is hidden until due
MAX_HIDE_S = 43200  # ChangeMessageVisibility's cap (12 h)
BATCH = 10  # SQS's batch size for send, receive and delete
KINDS = ("message", "reply")


class QueueUnavailable(Exception):
    """SQS did not take or give an item (unreachable, refused, throttled)."""


class BadWorkItem(ValueError):
    """An SQS message body that is not one of our work items."""


@dataclass(frozen=True)
class WorkItem:
    """`message`: redo a pending message (key: its MessageSid); `reply`: send an outbox row (key: its id)."""

    kind: Literal["message", "reply"]
    key: str

    def body(self) -> str:
        return json.dumps({"kind": self.kind, "key": self.key}, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str) -> WorkItem:
        try:
            data = json.loads(body)
            kind, key = data["kind"], data["key"]
        except (ValueError, TypeError, KeyError) as exc:
            raise BadWorkItem(f"not a work item: {body[:80]!r}") from exc
        if kind not in KINDS or not isinstance(key, str) or not key:
            raise BadWorkItem(f"not a work item: {body[:80]!r}")
        if kind == "reply" and not key.isdigit():
            raise BadWorkItem(f"reply item with a key that is no outbox id: {key[:40]!r}")
        return cls(kind, key)


@dataclass(frozen=True)
class Received:
    """One received SQS message: the item (None when the body is not one), its receipt handle, how often SQS has
    handed it out."""

    item: WorkItem | None
    receipt: str
    message_id: str
    receive_count: int
    body: str


def region_of(queue_url: str) -> str | None:
    """The region in an AWS queue URL (https://sqs.eu-west-1.amazonaws.com/123/name), else None."""
    found = re.match(r"https://sqs[.-]([a-z0-9-]+)\.amazonaws\.com/", queue_url)
    return found.group(1) if found else None


class SqsQueue:
    """One SQS queue, named by its URL; `client` (a boto3 SQS client) is made from the rest when not given."""

    def __init__(
        self,
        queue_url: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        client=None,
        wait_s: int = 5,
    ):
        self.queue_url = queue_url
        if client is None:
            import boto3  # the bot extra has it; only this queue needs it
            from botocore.config import Config

            # short connect timeout and few retries: a send runs right after a commit, on a webhook's path
            config = Config(
                connect_timeout=2, read_timeout=wait_s + 10, retries={"max_attempts": 3, "mode": "standard"}
            )
            region = region or region_of(queue_url) or ("us-east-1" if endpoint_url else None)
            client = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region, config=config)
        self.client = client

    def _call(self, what: str, fn, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(QueueUrl=self.queue_url, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise QueueUnavailable(f"SQS {what} on {self.queue_url} failed: {exc}") from exc

    def send(self, items: Sequence[tuple[WorkItem, float]]) -> int:
        """Send each item to become visible after its delay (seconds, capped at 15 min); how many SQS took.
        Raises QueueUnavailable when a whole batch fails; a partly refused batch is logged and counted."""
        sent = 0
        for start in range(0, len(items), BATCH):
            entries = [
                {"Id": str(i), "MessageBody": item.body(), "DelaySeconds": min(MAX_DELAY_S, max(0, round(delay)))}
                for i, (item, delay) in enumerate(items[start : start + BATCH])
            ]
            answer = self._call("send", self.client.send_message_batch, Entries=entries)
            for failed in answer.get("Failed", []):
                log.warning("SQS refused work item %s: %s", entries[int(failed["Id"])]["MessageBody"], failed)
            sent += len(answer.get("Successful", []))
        return sent

    def receive(self, max_items: int, wait_s: int, visibility_s: int) -> list[Received]:
        """Up to `max_items` (at most 10) items, each hidden from other receivers for `visibility_s`; waits up to
        `wait_s` for the first (long poll)."""
        answer = self._call(
            "receive",
            self.client.receive_message,
            MaxNumberOfMessages=max(1, min(BATCH, max_items)),
            WaitTimeSeconds=wait_s,
            VisibilityTimeout=visibility_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        out = []
        for message in answer.get("Messages", []):
            try:
                item = WorkItem.parse(message["Body"])
            except BadWorkItem:
                item = None
            count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
            out.append(Received(item, message["ReceiptHandle"], message["MessageId"], count, message["Body"]))
        return out

    def delete(self, receipts: Iterable[str]) -> int:
        """Delete received items (done, or nothing left to do); how many SQS deleted. One whose receipt went stale
        (it came back to another receiver meanwhile) stays, and its next taker finds it done."""
        receipts = list(receipts)
        deleted = 0
        for start in range(0, len(receipts), BATCH):
            entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts[start : start + BATCH])]
            answer = self._call("delete", self.client.delete_message_batch, Entries=entries)
            for failed in answer.get("Failed", []):
                log.warning("SQS did not delete a work item: %s", failed)
            deleted += len(answer.get("Successful", []))
        return deleted

    def hide(self, receipt: str, seconds: float) -> None:
        """Keep a received item hidden `seconds` more (capped at 12 h): it comes back when its work is due."""
        timeout = min(MAX_HIDE_S, max(0, round(seconds)))
        self._call(
            "visibility change", self.client.change_message_visibility, ReceiptHandle=receipt, VisibilityTimeout=timeout
        )

    def depth(self) -> dict[str, int]:
        """Approximate counts: visible, in flight (received, not deleted), delayed."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        names.append("ApproximateNumberOfMessagesDelayed")
        answer = self._call("attributes", self.client.get_queue_attributes, AttributeNames=names)
        found = answer.get("Attributes", {})
        return {"visible": int(found.get(names[0], 0)), "in_flight": int(found.get(names[1], 0))} | {
            "delayed": int(found.get(names[2], 0))
        }
