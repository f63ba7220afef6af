"""faster-whisper on a model folder already on disk (`BOT_VOICE_WHISPER_MODEL`), never downloaded at run time: a
path that is not a CTranslate2 Whisper model folder is refused at start, before faster-whisper is even imported.

faster-whisper is not a dependency of the bot: `pip install faster-whisper` where this engine is wanted.
"""

from __future__ import annotations

import threading
from pathlib import Path

from bot.voice import vocabulary
from bot.voice.transcript import Note, Transcript, VoiceConfigError

# What a CTranslate2 conversion of a Whisper model holds (faster-whisper's own models on the Hugging Face hub).
MODEL_FILES = ("model.bin", "config.json")


def check_model_dir(path: Path | str | None) -> Path:
    """The folder, when it holds a converted Whisper model; VoiceConfigError (naming what is missing) otherwise."""
    if not path:
        raise VoiceConfigError("BOT_VOICE_ENGINE=whisper needs BOT_VOICE_WHISPER_MODEL, a local model folder")
    folder = Path(path)
    if not folder.is_dir():
        raise VoiceConfigError(f"BOT_VOICE_WHISPER_MODEL={str(folder)!r} is not a folder (models are never downloaded)")
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise VoiceConfigError(f"{folder} is not a faster-whisper model folder: it lacks {missing}")
    return folder


class WhisperTranscriber:
    name = "faster-whisper"
    paid = False

    def __init__(self, model_dir: Path | str | None, compute_type: str = "int8", beam_size: int = 1, threads: int = 2):
        folder = check_model_dir(model_dir)
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise VoiceConfigError("BOT_VOICE_ENGINE=whisper needs `pip install faster-whisper`") from exc
        # a folder path is loaded as it is; local_files_only keeps it off the network whatever it holds
        self._model = WhisperModel(
            str(folder), device="cpu", compute_type=compute_type, cpu_threads=threads, local_files_only=True
        )
        self.beam_size = beam_size
        # the foods and units we expect, as Whisper's context, so "quinoa" beats "keen war"
        self.prompt = "Meals: " + ", ".join(vocabulary.food_words()[:60]) + ". 150 grams, 2 cups, a slice."
        self._lock = threading.Lock()

    def transcribe(self, note: Note) -> Transcript:
        with self._lock:
            segments, _ = self._model.transcribe(
                note.pcm.floats(), language="en", beam_size=self.beam_size, initial_prompt=self.prompt
            )
            text = " ".join(segment.text.strip() for segment in segments)
        return Transcript(text.strip(), self.name)
