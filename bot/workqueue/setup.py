"""How the app gets its background work: the in-process retry worker, or (BOT_WORK_QUEUE=sqs) the store wrapped to
enqueue what it schedules, with an SQS consumer and a sweep."""

from __future__ import annotations

import logging

from bot.channel.delivery import Delivery
from bot.channel.media_purge import MediaPurge
from bot.channel.retry import RetryWorker
from bot.channel.service import BotService
from bot.settings import BotSettings
from bot.workqueue.consumer import QueueWorkers, WorkConsumer, WorkSweep
from bot.workqueue.hooks import QueueingStore
from bot.workqueue.sqs import SqsQueue

log = logging.getLogger(__name__)
NEEDED = ("claim_message_if_due", "claim_outbound_if_due", "overdue_work")  # bot.storage.protocols.WorkStore


def with_work_queue(settings: BotSettings, store):
    """`store` itself, or with BOT_WORK_QUEUE=sqs the store telling SQS what it schedules."""
    if settings.work_queue != "sqs":
        return store
    missing = [name for name in NEEDED if not hasattr(store, name)]
    if missing:
        raise TypeError(
            f"BOT_WORK_QUEUE=sqs needs a store with {missing} (WorkStore); {type(store).__name__} lacks them"
        )
    queue = SqsQueue(settings.sqs_queue_url, settings.sqs_endpoint_url, settings.aws_region, wait_s=settings.sqs_wait_s)
    log.info("work queue: SQS %s (endpoint %s)", settings.sqs_queue_url, settings.sqs_endpoint_url or "AWS")
    return QueueingStore(store, queue)


def work_workers(settings: BotSettings, store, service: BotService, delivery: Delivery, purge: MediaPurge):
    """What runs the retries and REST sends in this process: start() and await stop()."""
    if isinstance(store, QueueingStore):
        consumer = WorkConsumer(settings, store.queue, store, service, delivery)
        return QueueWorkers(consumer, WorkSweep(settings, store.queue, store, purge))
    return RetryWorker(service, delivery, settings.retry_poll_s, purge)
