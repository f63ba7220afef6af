"""Deleting a deleted person's media at Twilio: the rows `delete_user` queued, worked off by the retry worker with
backoff until Twilio confirms (a file already gone counts), so neither a crash nor an outage forgets one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.channel.messenger import MediaDeletionFailed, Messenger
from bot.photos.meal_analysis import retry_delay
from bot.settings import BotSettings
from bot.storage.protocols import BotStore, off_loop
from bot.storage.records import utcnow

log = logging.getLogger(__name__)


@dataclass
class MediaPurge:
    settings: BotSettings
    store: BotStore
    messenger: Messenger

    async def run_due(self, limit: int = 8) -> int:
        """Delete the media of the due messages at Twilio; how many messages were tried."""
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.lease_s)
        due = await off_loop(self.store.claim_media_deletions, now, lease, limit)
        for sid, attempts in due:
            try:
                files = await off_loop(self.messenger.delete_media, sid)
            except MediaDeletionFailed as exc:
                delay = retry_delay(attempts, self.settings.retry_base_s, self.settings.retry_max_s)
                await off_loop(self.store.media_deletion_failed, sid, str(exc), utcnow() + timedelta(seconds=delay))
                log.error("Twilio media of deleted message %s not deleted (attempt %d): %s", sid, attempts, exc)
                continue
            await off_loop(self.store.media_deleted, sid)
            log.info("deleted %d Twilio media files of deleted message %s", files, sid)
        return len(due)
