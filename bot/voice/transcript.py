"""What every speech engine returns (`Transcript`), what it may raise, and how its words become a typed message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from bot.voice.audio import Pcm
from bot.voice.numbers import words_to_digits

# Spoken unit words that typed meals know only as their abbreviation.
_TYPED_UNITS = {"milliliters": "ml", "milliliter": "ml", "millilitres": "ml", "millilitre": "ml"}
_POINT = re.compile(r"\b(\d+) point (\d)\b")


class VoiceConfigError(RuntimeError):
    """The configured engine cannot run (no model at the path, a package missing): a deployment error."""


class TranscriptionUnavailable(Exception):
    """The engine failed in a way that may pass (a cloud service down or slow): retry the note later."""


@dataclass(frozen=True)
class Transcript:
    """What was heard. `text`: as the engine wrote it; `message`: the same words as a person would type them."""

    text: str
    engine: str
    cost_usd: float = 0.0

    @property
    def message(self) -> str:
        return as_typed(self.text)


@dataclass(frozen=True)
class Note:
    """A voice note to transcribe: the decoded samples, and the original bytes where the engine reads those."""

    pcm: Pcm
    data: bytes
    content_type: str
    sha256: str
    sid: str


class Transcriber(Protocol):
    name: str
    paid: bool  # True when each note costs money (the daily cost cap applies)

    def transcribe(self, note: Note) -> Transcript:
        """Blocking. Raises TranscriptionUnavailable for failures that may pass."""


def as_typed(heard: str) -> str:
    """'one hundred and fifty milliliters of milk.' → '150 ml of milk'."""
    text = re.sub(r"[^\w\s'.]", " ", heard.lower())
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    words = [_TYPED_UNITS.get(w, w) for w in text.split()]
    typed = words_to_digits(" ".join(words))
    return _POINT.sub(r"\1.\2", typed)
