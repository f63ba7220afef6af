"""A person's "delete my data": which answer confirms it, and removing what the store's hard delete leaves
elsewhere: the bytes of the photos only they sent (our photo store) and their messages' media (kept by Twilio).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Literal

from bot.storage.photo_store import PhotoStore
from bot.storage.records import DeletedUser

log = logging.getLogger(__name__)

# What the prompt asks for ("yes delete") and close ways of saying it; a bare "yes" never deletes.
_CONFIRMED = re.compile(
    r"(?:yes|yep|yeah|yup|y|confirm|confirmed|ok|okay)[\s,]+(?:please[\s,]+)?delete"
    r"(?:\s+(?:it|all|everything|me|my data|my account|it all))?"
)
# They seem to mean it but did not say the words: we tell them the words and keep asking.
_ALMOST = frozenset(
    {"yes", "y", "yep", "yeah", "yup", "sure", "ok", "okay", "confirm", "confirmed", "yes please"}
    | {"delete", "delete it", "delete my data", "delete everything", "delete all"}
)
HOW_TO_CONFIRM = 'To delete everything, reply "yes delete". Anything else keeps your data.'


def confirmation(body: str) -> Literal["delete", "ask_again", "cancel"]:
    """How an answer to "delete?" reads: a confirmation, almost one (a bare yes), or no."""
    said = " ".join(body.lower().split()).strip(" .!?\"'")
    if _CONFIRMED.fullmatch(said):
        return "delete"
    if said in _ALMOST:
        return "ask_again"
    return "cancel"


class Forgetter:
    """After the store's delete: the orphan photos now, the Twilio media in a thread (one or two REST calls per
    message with media would keep the webhook past Twilio's 15 s)."""

    def __init__(self, photos: PhotoStore | None, delete_media: Callable[[str], int] | None):
        self.photos = photos
        self.delete_media = delete_media

    def forget(self, deleted: DeletedUser) -> threading.Thread | None:
        """Remove what `deleted` names; the thread deleting the Twilio media, if one was started."""
        self.forget_photos(deleted.orphan_photos)
        if self.delete_media is None or not deleted.media_messages:
            return None
        # the SIDs are logged first: a process that dies midway leaves the operator the list to finish
        log.info("deleting the Twilio media of %d messages: %s", len(deleted.media_messages), deleted.media_messages)
        thread = threading.Thread(
            target=self.forget_media, args=(deleted.media_messages,), name="forget-twilio-media", daemon=True
        )
        thread.start()
        return thread

    def forget_photos(self, orphans: list[str]) -> None:
        """Delete the bytes of the photos nobody else sent; the rows naming them are gone already."""
        for sha256 in orphans:
            try:
                if self.photos is not None:
                    self.photos.delete(sha256)
            except Exception:  # the person is deleted: a left-over file is for the operator to remove
                log.exception("deleted user's photo %s could not be removed from the photo store", sha256)

    def forget_media(self, message_sids: list[str]) -> int:
        """Delete each message's media at Twilio; how many files were deleted. Failures are logged by SID only."""
        files = failed = 0
        for sid in message_sids:
            try:
                files += self.delete_media(sid)
            except Exception as exc:  # one message's failure must not keep the others' media at Twilio
                failed += 1
                log.error("Twilio media of deleted user's message %s not deleted: %s", sid, exc)
        log.info("deleted %d Twilio media files of %d messages; %d messages failed", files, len(message_sids), failed)
        return files
