"""Voice notes measured: does a spoken meal log the right foods and amounts? Word error rate too, per engine,
voice and noise level, on notes made here with espeak-ng.

    python -m benchmarks.voice                                  # test set: 3 voices, clean + 2 noise levels; dev: clean
    python -m benchmarks.voice --split dev --noise clean        # the development set: tune on this, and only this
    python -m benchmarks.voice --whisper-model /models/faster-whisper-small.en   # also faster-whisper

Two disjoint sets of sentences: benchmarks/voice_sentences_dev.txt (25, written for tuning: every decoder setting is
chosen on it) and benchmarks/voice_sentences.txt (60, the test set: only reported, never used to choose). A run
measures the test set and, labelled apart, the development set (clean only unless --dev-noise says more).

Each sentence (as a person would type it) is spoken by espeak-ng in each voice
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
import sys
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
DEV_SENTENCES = REPO / "benchmarks" / "voice_sentences_dev.txt"
TUNING = REPO / "benchmarks" / "voice_tuning.json"  # what was tried on the development set, by hand
SPLITS = ("test", "dev")
# (espeak-ng voice, words per minute): an American male, a British male, an American female voice a bit faster.
VOICES = (("en-us", 160), ("en-gb", 140), ("en-us+f3", 185))
NOISE = {"clean": None, "snr20": 20.0, "snr10": 10.0}  # white noise, dB below the speech
DECODER = AudioDecoder(max_seconds=60)  # the bot's limits; the synthetic sentences are short and loud
GOAL = 0.85  # of clean notes logged right, offline default (issue 27)

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0], rich_markup_mode=None)


@dataclass(frozen=True)
class Result:
    split: str
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
    """espeak-ng's voice, resampled to 16 kHz mono by the bot's own decoder (the same ffmpeg conversion)."""
    wav = work / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text], check=True)
    return DECODER.decode(wav.read_bytes())


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


def run_engine(engine: Transcriber, notes, decoder: AudioDecoder, split: str) -> list[Result]:
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
        results.append(
            Result(split, engine.name, voice, noise, sentence, heard, right, meal, errors, words, seconds, spent)
        )
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


def summarise_split(results: list[Result], noises: list[str]) -> dict[str, dict]:
    """Per engine: every noise level over all voices, then each voice at each level."""
    summary: dict[str, dict] = {}
    for name in dict.fromkeys(r.engine for r in results):
        mine = [r for r in results if r.engine == name]
        conditions = {f"all {level}": [r for r in mine if r.noise == level] for level in noises}
        conditions |= {
            f"{voice} {level}": [r for r in mine if r.voice == voice and r.noise == level]
            for voice, level in dict.fromkeys((r.voice, r.noise) for r in mine)
        }
        summary[name] = {k: summarise(v) for k, v in conditions.items() if v}
    return summary


def shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def understood(path: Path) -> list[str]:
    said = read_sentences(path)
    not_understood = [s for s in said if meaning_of(as_typed(s)) is None]
    if not_understood:
        raise typer.BadParameter(f"the bot would not understand these typed ({path.name}): {not_understood}")
    return said


@app.command()
def main(
    sentences: Annotated[Path, typer.Option(help="The test set, one sentence a line.")] = SENTENCES,
    dev_sentences: Annotated[Path, typer.Option(help="The development set, one sentence a line.")] = DEV_SENTENCES,
    split: Annotated[list[str], typer.Option(help=f"Which sets to measure among {list(SPLITS)} (repeat).")] = list(  # noqa: B006
        SPLITS
    ),
    limit: Annotated[int, typer.Option(min=0, help="Take every n-th sentence to keep about this many (0: all).")] = 0,
    noise: Annotated[list[str], typer.Option(help=f"Noise levels among {list(NOISE)} (repeat).")] = list(NOISE),  # noqa: B006
    dev_noise: Annotated[
        list[str], typer.Option(help="Noise levels for the development set (it is tuned on clean notes).")
    ] = ["clean"],  # noqa: B006
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
    unknown = sorted((set(noise) | set(dev_noise)) - set(NOISE)) + sorted(set(split) - set(SPLITS))
    if unknown:
        raise typer.BadParameter(f"unknown noise levels or sets {unknown}; known: {list(NOISE)}, {list(SPLITS)}")
    files = {"test": sentences, "dev": dev_sentences}
    sets = {"test": (understood(sentences), noise), "dev": (understood(dev_sentences), dev_noise)}
    overlap = {s.lower() for s in sets["test"][0]} & {s.lower() for s in sets["dev"][0]}
    if overlap:
        raise typer.BadParameter(f"the development and test sets share {sorted(overlap)}")
    sets = {name: sets[name] for name in SPLITS if name in split}
    if limit:
        sets = {name: (said[:: max(1, len(said) // limit)][:limit], levels) for name, (said, levels) in sets.items()}
    decoder = DECODER
    results: list[Result] = []
    chosen = engines(whisper_model)
    with tempfile.TemporaryDirectory(prefix="voice-bench-") as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name, (said, levels) in sets.items():
            typer.echo(
                f"{name}: speaking {len(said)} sentences × {len(VOICES)} voices × {len(levels)} noise levels…", err=True
            )
            notes = make_notes(said, levels, work)
            if workdir is not None:
                for i, (voice, level, _, data) in enumerate(notes):
                    (work / f"{name}-{i:04d}-{voice.replace('+', '_').replace('@', '-')}-{level}.ogg").write_bytes(data)
            for engine in chosen:
                typer.echo(f"{name}: transcribing with {engine.name}…", err=True)
                results += run_engine(engine, notes, decoder, name)
    summaries = {
        name: summarise_split([r for r in results if r.split == name], levels) for name, (_, levels) in sets.items()
    }
    for name, summary in summaries.items():
        typer.echo(f"\n{name} set ({len(sets[name][0])} sentences)\n" + render(summary, sets[name][1]))
        headline = summary[chosen[0].name].get("all clean")
        if headline:
            low, high = headline["logged_right_ci95"]
            verdict = "met" if headline["logged_right"] >= GOAL else "missed"
            typer.echo(
                f"{name}: clean notes logged right ({chosen[0].name}): {headline['logged_right']:.1%} "
                f"(95 % CI {low:.1%}–{high:.1%}); goal {GOAL:.0%}: {verdict}"
                + ("" if name == "test" else " (development set: tuned on, not the result)")
            )
    if show_misses:
        for r in results:
            if not r.right:
                typer.echo(f"  {r.split} {r.engine} {r.voice} {r.noise}: {r.sentence!r} -> {r.heard!r}")
    json_out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": " ".join(["python -m benchmarks.voice", *sys.argv[1:]]),
        "sets": {
            name: {"file": shown(files[name]), "sentences": len(said), "noise": {k: NOISE[k] for k in levels}}
            for name, (said, levels) in sets.items()
        },
        "voices": [f"{v}@{w}" for v, w in VOICES],
        "goal_clean_logged_right": GOAL,
        "summary": summaries.get("test", {}),
        "dev_summary": summaries.get("dev", {}),
        "tried_on_dev": json.loads(TUNING.read_text(encoding="utf-8")) if TUNING.exists() else None,
        "notes": [asdict(r) for r in results],
    }
    json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {json_out}", err=True)


if __name__ == "__main__":
    random.seed(0)
    app()
