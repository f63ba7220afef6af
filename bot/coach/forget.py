"""A person's "delete my data": which answer confirms it, and removing what the store's hard delete leaves
in our photo store (the bytes of the photos only they sent)."""

from __future__ import annotations

import logging
import re
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
    """After the store's delete: the bytes of the photos only they sent. Their media at Twilio was queued for
    deletion in the delete's own transaction (`bot.channel.media_purge` deletes it)."""

    def __init__(self, photos: PhotoStore | None):
        self.photos = photos

    def forget(self, deleted: DeletedUser) -> None:
        self.forget_photos(deleted.orphan_photos)

    def forget_photos(self, orphans: list[str]) -> None:
        """Delete the bytes of the photos nobody else sent; the rows naming them are gone already."""
        for sha256 in orphans:
            try:
                if self.photos is not None:
                    self.photos.delete(sha256)
            except Exception:  # the person is deleted: a left-over file is for the operator to remove
                log.exception("deleted user's photo %s could not be removed from the photo store", sha256)
