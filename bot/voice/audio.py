"""Any voice note (OGG/Opus from WhatsApp, AMR, MP3, M4A, WAV...) → 16 kHz mono 16-bit PCM, with ffmpeg.

ffmpeg reads a temporary file rather than a pipe: an M4A whose index sits at its end cannot be read from a pipe.
What cannot be heard (nothing decodable, cut off, too long, silence) is an `AudioRejected` whose reason is fit
for the person.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# How each container starts: bytes that begin like audio but do not decode were cut off or damaged on the way.
_MAGIC = (b"OggS", b"#!AMR", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"RIFF", b"fLaC", b"\x1aE\xdf\xa3")


class AudioRejected(Exception):
    """The note cannot be transcribed; `reason` is fit for the person ("that voice note is 75 s long...")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class DecoderMissing(RuntimeError):
    """ffmpeg is not installed (a deployment error, not the person's)."""


@dataclass(frozen=True)
class Pcm:
    """16 kHz mono signed 16-bit little-endian samples."""

    data: bytes

    @property
    def seconds(self) -> float:
        return len(self.data) / 2 / SAMPLE_RATE

    def samples(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype="<i2")

    def floats(self) -> np.ndarray:
        """Samples in [-1, 1] (what faster-whisper takes)."""
        return self.samples().astype(np.float32) / 32768.0


def looks_like_audio(data: bytes) -> bool:
    return data[:8].startswith(_MAGIC) or data[4:8] == b"ftyp"


def speech_level_db(pcm: Pcm) -> float:
    """The loudness of the loudest tenth of 30 ms frames, in dBFS: a voice note that is all below
    `silence_db` holds nobody speaking (a pocket, a muted microphone)."""
    samples = pcm.samples().astype(np.float64) / 32768.0
    frame = int(0.03 * SAMPLE_RATE)
    frames = len(samples) // frame
    if frames == 0:
        return -120.0
    rms = np.sqrt(np.mean(samples[: frames * frame].reshape(frames, frame) ** 2, axis=1))
    loud = np.sort(rms)[-max(1, frames // 10) :]
    return float(20 * np.log10(max(float(np.mean(loud)), 1e-6)))


class AudioDecoder:
    def __init__(self, max_seconds: float, silence_db: float = -45.0, timeout_s: float = 20.0, ffmpeg: str = "ffmpeg"):
        """Args:
        max_seconds: longer notes are refused (only the first `max_seconds` + 1 s are ever decoded).
        silence_db: a note whose speech level (`speech_level_db`) is below this is silence.
        timeout_s: the most one ffmpeg run may take.
        ffmpeg: the program.
        """
        self.max_seconds = max_seconds
        self.silence_db = silence_db
        self.timeout_s = timeout_s
        self.ffmpeg = ffmpeg

    def available(self) -> bool:
        return shutil.which(self.ffmpeg) is not None

    def decode(self, data: bytes) -> Pcm:
        """The note as 16 kHz mono PCM, checked for length and silence. Blocking (a subprocess).

        Raises:
            AudioRejected: empty, not audio, cut off or damaged, longer than `max_seconds`, or silent.
            DecoderMissing: no ffmpeg.
        """
        if not data:
            raise AudioRejected("the voice note arrived empty")
        pcm = self._run(data)
        if not pcm.data:
            raise AudioRejected("I couldn't hear anything in that voice note (it holds no sound)")
        if pcm.seconds > self.max_seconds:
            raise AudioRejected(
                f"that voice note is over {self.max_seconds:.0f} s; I can listen to notes up to "
                f"{self.max_seconds:.0f} s (or type your meal)"
            )
        if speech_level_db(pcm) < self.silence_db:
            raise AudioRejected("that voice note is silent; hold the microphone button and say what you ate")
        return pcm

    def _run(self, data: bytes) -> Pcm:
        with tempfile.TemporaryDirectory(prefix="voice-") as work:
            source = Path(work) / "note"
            source.write_bytes(data)
            command = [
                self.ffmpeg,
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-i",
                str(source),
                "-t",
                f"{self.max_seconds + 1:g}",  # enough to know it is too long, never a whole hour
                "-vn",
                "-ac",
                "1",
                "-ar",
                str(SAMPLE_RATE),
                "-f",
                "s16le",
                "pipe:1",
            ]
            try:
                done = subprocess.run(command, capture_output=True, timeout=self.timeout_s, check=False)
            except FileNotFoundError as exc:
                raise DecoderMissing(f"{self.ffmpeg!r} is not installed (apt-get install ffmpeg)") from exc
            except subprocess.TimeoutExpired as exc:
                raise AudioRejected("I couldn't read that voice note (it took too long to open)") from exc
        if done.returncode != 0:
            error = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
            log.info("ffmpeg refused a %d-byte note: %s", len(data), error[0])
            if looks_like_audio(data):
                raise AudioRejected("that voice note arrived cut off or damaged; please record it again")
            raise AudioRejected("that doesn't look like a voice note I can play")
        return Pcm(done.stdout[: len(done.stdout) // 2 * 2])
