"""Voice notes measured: does a spoken meal log the right foods and amounts? Word error rate too, per engine,
voice and noise level, on notes made here with espeak-ng.

    python -m benchmarks.voice                                  # every sentence, 3 voices, clean + 2 noise levels
    python -m benchmarks.voice --limit 12 --noise clean         # a quick look while tuning
    python -m benchmarks.voice --whisper-model /models/faster-whisper-small.en   # also faster-whisper

Each sentence of benchmarks/voice_sentences.txt (as a person would type it) is spoken by espeak-ng in each voice
and speed, white noise is added at each signal-to-noise ratio, and the result is encoded like a WhatsApp voice note
(OGG/Opus, 16 kHz mono, 16 kbit/s). The bot's own decoder and engine transcribe it; the transcript, made typeable
(`bot.voice.transcript.as_typed`), is *logged right* when it means to the bot what the sentence does
(`bot.voice.meaning.meaning_of`: the same foods with the same amounts and units, the same command or correction).
WER is over the typeable forms of both (digits for numbers), so "150" against "one hundred and fifty" is no error.
The audio goes to a temporary directory (or --workdir) and is not kept in the repository.
"""

from __future__ import annotations

import json
import random
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from bot.voice.audio import SAMPLE_RATE, AudioDecoder, AudioRejected, Pcm
from bot.voice.meaning import meaning_of
from bot.voice.transcript import Note, Transcriber, as_typed

REPO = Path(__file__).resolve().parents[1]
SENTENCES = REPO / "benchmarks" / "voice_sentences.txt"
# (espeak-ng voice, words per minute): an American male, a British male, an American female voice a bit faster.
VOICES = (("en-us", 160), ("en-gb", 140), ("en-us+f3", 185))
NOISE = {"clean": None, "snr20": 20.0, "snr10": 10.0}  # white noise, dB below the speech
GOAL = 0.85  # of clean notes logged right, offline default (issue 27)

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0], rich_markup_mode=None)


@dataclass(frozen=True)
class Result:
    engine: str
    voice: str
    noise: str
    sentence: str
    heard: str
    right: bool
    meal: bool
    errors: int
    words: int
    seconds: float
    decode_s: float


def read_sentences(path: Path = SENTENCES) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def speak(text: str, voice: str, wpm: int, work: Path) -> Pcm:
    """espeak-ng's voice, resampled to 16 kHz mono."""
    wav = work / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text], check=True)
    raw = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(wav),
            "-ac",
            "1",
            "-ar",
            str(SAMPLE_RATE),
            "-f",
            "s16le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return Pcm(raw)


def with_noise(pcm: Pcm, snr_db: float | None, rng: np.random.Generator) -> Pcm:
    """White noise `snr_db` below the speech's power (measured where it speaks), over the whole note."""
    if snr_db is None:
        return pcm
    samples = pcm.samples().astype(np.float64)
    speech = samples[np.abs(samples) > 0.02 * 32768]
    power = float(np.mean(speech**2)) if len(speech) else 1.0
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(samples))
    return Pcm(np.clip(samples + noise, -32768, 32767).astype("<i2").tobytes())


def as_whatsapp(pcm: Pcm) -> bytes:
    """OGG/Opus as WhatsApp sends voice notes."""
    command = [
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "s16le",
        "-ar",
        str(SAMPLE_RATE),
        "-ac",
        "1",
        "-i",
        "-",
    ]
    command += ["-c:a", "libopus", "-b:a", "16k", "-application", "voip", "-f", "ogg", "-"]
    return subprocess.run(command, input=pcm.data, check=True, capture_output=True).stdout


def word_errors(reference: str, heard: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words): Levenshtein over words."""
    ref, hyp = reference.split(), heard.split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1], len(ref)


def bootstrap(values: list[bool], rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the share of True, resampling notes."""
    if not values:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=float)
    means = data[rng.integers(0, len(data), (rounds, len(data)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def make_notes(sentences: list[str], noises: list[str], work: Path, seed: int = 0) -> list[tuple[str, str, str, bytes]]:
    """(voice, noise, sentence, OGG bytes) for every combination."""
    rng = np.random.default_rng(seed)
    notes = []
    for voice, wpm in VOICES:
        for sentence in sentences:
            clean = speak(sentence, voice, wpm, work)
            for noise in noises:
                notes.append((f"{voice}@{wpm}", noise, sentence, as_whatsapp(with_noise(clean, NOISE[noise], rng))))
    return notes


def run_engine(engine: Transcriber, notes, decoder: AudioDecoder) -> list[Result]:
    results = []
    for i, (voice, noise, sentence, data) in enumerate(notes):
        if i and i % 60 == 0:
            typer.echo(f"  {i}/{len(notes)} notes", err=True)
        reference = as_typed(sentence)
        try:
            pcm = decoder.decode(data)
        except AudioRejected:
            pcm = None
        started = time.perf_counter()
        heard = engine.transcribe(Note(pcm, data, "audio/ogg", "0" * 64, "SMbenchmark")).message if pcm else ""
        spent = time.perf_counter() - started
        expected = meaning_of(reference)
        errors, words = word_errors(reference, heard)
        right = expected is not None and meaning_of(heard) == expected
        meal = bool(expected) and expected[0] == "meal"
        seconds = pcm.seconds if pcm else 0.0
        results.append(Result(engine.name, voice, noise, sentence, heard, right, meal, errors, words, seconds, spent))
    return results


def summarise(results: list[Result]) -> dict:
    errors, words = sum(r.errors for r in results), sum(r.words for r in results)
    right = [r.right for r in results]
    meals = [r.right for r in results if r.meal]
    low, high = bootstrap(right)
    return {
        "notes": len(results),
        "logged_right": sum(right) / len(right) if right else float("nan"),
        "logged_right_ci95": [low, high],
        "meals_logged_right": sum(meals) / len(meals) if meals else float("nan"),
        "wer": errors / words if words else float("nan"),
        "realtime_factor": sum(r.decode_s for r in results) / max(1e-9, sum(r.seconds for r in results)),
    }


def render(summary: dict[str, dict], noises: list[str]) -> str:
    header = (
        f"{'engine':<16}{'condition':<22}{'notes':>6}{'logged right':>14}{'95 % CI':>16}{'meals right':>13}{'WER':>8}"
    )
    lines = [header, "-" * len(header)]
    for engine, conditions in summary.items():
        for condition, s in conditions.items():
            ci = f"{s['logged_right_ci95'][0]:.0%}–{s['logged_right_ci95'][1]:.0%}"
            lines.append(
                f"{engine:<16}{condition:<22}{s['notes']:>6}{s['logged_right']:>14.1%}{ci:>16}"
                f"{s['meals_logged_right']:>13.1%}{s['wer']:>8.1%}"
            )
    return "\n".join(lines)


def engines(whisper_model: Path | None) -> list[Transcriber]:
    from bot.voice.sphinx import SphinxTranscriber

    chosen: list[Transcriber] = [SphinxTranscriber()]
    if whisper_model is not None:
        from bot.voice.whisper import WhisperTranscriber

        chosen.append(WhisperTranscriber(whisper_model))
    return chosen


@app.command()
def main(
    sentences: Annotated[Path, typer.Option(help="One sentence a line.")] = SENTENCES,
    limit: Annotated[int, typer.Option(min=0, help="Take every n-th sentence to keep about this many (0: all).")] = 0,
    noise: Annotated[list[str], typer.Option(help=f"Noise levels among {list(NOISE)} (repeat).")] = list(NOISE),  # noqa: B006
    whisper_model: Annotated[
        Path | None, typer.Option(help="A local faster-whisper model folder: also measure it.")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the generated notes here (default: a temporary folder).")
    ] = None,
    json_out: Annotated[Path, typer.Option("--json", help="Where the numbers go.")] = REPO
    / "reports/voice/benchmark.json",
    show_misses: Annotated[bool, typer.Option(help="Print every note not logged right.")] = False,
) -> None:
    unknown = sorted(set(noise) - set(NOISE))
    if unknown:
        raise typer.BadParameter(f"unknown noise levels {unknown}; known: {list(NOISE)}")
    said = read_sentences(sentences)
    not_understood = [s for s in said if meaning_of(as_typed(s)) is None]
    if not_understood:
        raise typer.BadParameter(f"the bot would not understand these typed: {not_understood}")
    if limit and limit < len(said):
        said = said[:: max(1, len(said) // limit)][:limit]
    with tempfile.TemporaryDirectory(prefix="voice-bench-") as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        typer.echo(f"speaking {len(said)} sentences × {len(VOICES)} voices × {len(noise)} noise levels…", err=True)
        notes = make_notes(said, noise, work)
        if workdir is not None:
            for i, (voice, level, _, data) in enumerate(notes):
                (work / f"{i:04d}-{voice.replace('+', '_').replace('@', '-')}-{level}.ogg").write_bytes(data)
        decoder = AudioDecoder(max_seconds=60)
        results = []
        for engine in engines(whisper_model):
            typer.echo(f"transcribing with {engine.name}…", err=True)
            results += run_engine(engine, notes, decoder)
    summary: dict[str, dict] = {}
    for name in dict.fromkeys(r.engine for r in results):
        mine = [r for r in results if r.engine == name]
        conditions = {f"all {level}": [r for r in mine if r.noise == level] for level in noise}
        conditions |= {
            f"{voice} {level}": [r for r in mine if r.voice == voice and r.noise == level]
            for voice, level in dict.fromkeys((r.voice, r.noise) for r in mine)
        }
        summary[name] = {k: summarise(v) for k, v in conditions.items() if v}
    typer.echo("\n" + render(summary, noise))
    headline = summary[results[0].engine].get("all clean")
    if headline:
        low, high = headline["logged_right_ci95"]
        verdict = "met" if headline["logged_right"] >= GOAL else "missed"
        typer.echo(
            f"\nclean notes logged right ({results[0].engine}): {headline['logged_right']:.1%} "
            f"(95 % CI {low:.1%}–{high:.1%}); goal {GOAL:.0%}: {verdict}"
        )
    if show_misses:
        for r in results:
            if not r.right:
                typer.echo(f"  {r.engine} {r.voice} {r.noise}: {r.sentence!r} -> {r.heard!r}")
    json_out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "sentences": len(said),
        "voices": [f"{v}@{w}" for v, w in VOICES],
        "noise": {k: NOISE[k] for k in noise},
        "goal_clean_logged_right": GOAL,
        "summary": summary,
        "notes": [asdict(r) for r in results],
    }
    json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {json_out}", err=True)


if __name__ == "__main__":
    random.seed(0)
    app()
