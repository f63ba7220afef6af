"""The offline default: CMU PocketSphinx (its wheel ships the en-US acoustic model and CMUdict) with our own
language, built at start from `bot.voice.vocabulary`: a JSGF grammar (the default: only what the bot understands
can be heard) or a trigram model (more forgiving, less accurate on our notes: README, "Voice notes"), and a
dictionary of only those words. Each short note is decoded at a few vocal-tract lengths and the best-scoring
hypothesis kept (`WARPS`).

No network, no download: everything comes from the wheel and our code. The decoder is not thread-safe, so notes are
decoded one at a time.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal

from bot.voice import vocabulary
from bot.voice.transcript import Note, Transcript, VoiceConfigError

log = logging.getLogger(__name__)
Search = Literal["grammar", "ngram"]
# Word and phone insertion penalties below PocketSphinx's (0.65, 1.0): fewer words are invented between the foods
# ("200 grams oats and salmon"); 47 of the 75 clean development notes (benchmarks/voice_sentences_dev.txt) logged
# right against 41 with PocketSphinx's own.
GRAMMAR_OPTIONS = {"wip": 0.2, "pip": 0.5}
# Vocal-tract length warps tried on each note (1.0: none), the hypothesis with the best score kept: the usual
# maximum-likelihood choice of warp, per note, so no speaker is fitted in advance. 51 of the 75 clean development
# notes against 47 with none; five warps (0.85 to 1.15) scored 50. Each warp is one more decoding pass.
WARPS = (0.9, 1.0, 1.1)
WHOLE_NOTE_S = 20.0
_GRAMMAR_WORD = re.compile(r"(?<![<\w'])[a-z']+(?![\w'>])")


def _cmudict() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"))


def build_search(directory: Path, search: Search = "grammar", count: int = 8000, seed: int = 0) -> dict[str, str]:
    """Write our grammar (or trigram model) and its pronouncing dictionary into `directory`; return the decoder
    settings that name them."""
    directory.mkdir(parents=True, exist_ok=True)
    dict_path = directory / "plate.dict"
    if search == "grammar":
        text = vocabulary.grammar()
        words = set(_GRAMMAR_WORD.findall(text.split("\n", 2)[2])) - {"public"}
        entries, missing = vocabulary.pronunciations(words, _cmudict())
        if missing:
            raise VoiceConfigError(f"the grammar has words without a pronunciation: {missing}")
        path = directory / "plate.gram"
        path.write_text(text, encoding="utf-8")
        settings = {"jsgf": str(path)}
    elif search == "ngram":
        from pocketsphinx.lm import ArpaBoLM

        lines = vocabulary.sentences(count, seed)
        entries, missing = vocabulary.pronunciations(vocabulary.vocabulary(lines), _cmudict())
        if missing:  # a word without a pronunciation would make the decoder refuse the model: leave its lines out
            log.info("no pronunciation for %s: sentences with them are left out of the language model", missing)
            lines = [line for line in lines if not set(line.split()) & set(missing)]
        model = ArpaBoLM(text="\n".join(lines), add_start=True, discount_mass=0.5)
        model.compute()
        path = directory / "plate.lm"
        if not model.write_file(str(path)):
            raise VoiceConfigError(f"cannot write the language model to {path}")
        settings = {"lm": str(path)}
    else:
        raise ValueError(f"unknown search {search!r}; expected 'grammar' or 'ngram'")
    dict_path.write_text("\n".join(entries) + "\n", encoding="utf-8")
    return {**settings, "dict": str(dict_path)}


class SphinxTranscriber:
    name = "pocketsphinx"
    paid = False

    def __init__(
        self,
        search: Search = "grammar",
        model_dir: Path | None = None,
        max_decode_s: float = 30.0,
        warps: tuple[float, ...] = WARPS,
        **options,
    ):
        """Args:
        search: "grammar" (JSGF) or "ngram" (a trigram model of the same sentences).
        model_dir: where to write them (a temporary directory by default).
        max_decode_s: past this much decoding a note is not listened to further (and no other warp is tried).
        warps: vocal-tract length warps to decode a short note at, the best hypothesis kept; (1.0,) for one pass.
        options: more PocketSphinx settings (`beam`, `wip`, ...), as its `Config` names them.
        """
        if not warps or any(not 0.7 <= w <= 1.3 for w in warps):
            raise ValueError(f"warps must be a few factors between 0.7 and 1.3, got {warps!r}")
        try:
            from pocketsphinx import Config, Decoder
        except ImportError as exc:
            raise VoiceConfigError("the offline voice engine needs the pocketsphinx package (the bot extra)") from exc
        self._tmp = None
        if model_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="plate-voice-")
            model_dir = Path(self._tmp.name)
        self.search = search
        self.max_decode_s = max_decode_s
        settings = build_search(model_dir, search)
        # The unwarped decoder first: a long note is heard by it alone.
        self._decoders = []
        for warp in sorted(warps, key=lambda w: w != 1.0):
            config = Config(samprate=16000, loglevel="FATAL", **settings)
            for name, value in {**(GRAMMAR_OPTIONS if search == "grammar" else {}), **options}.items():
                config[name] = value
            if warp != 1.0:
                config["warp_type"], config["warp_params"] = "inverse_linear", f"{warp:g}"
            self._decoders.append(Decoder(config))
        self._lock = threading.Lock()

    def transcribe(self, note: Note) -> Transcript:
        """The words of `note`. A note of up to 20 s is decoded whole (its cepstral mean known up front), at each
        warp while the time allows, the best-scoring hypothesis kept; a longer one by the second at no warp, and
        past `max_decode_s` the rest is not listened to, so a noisy minute (README, "Voice notes") never outlives
        the message's lease."""
        step = 2 * 16000  # one second of samples, in bytes
        best = None
        with self._lock:
            started = time.monotonic()
            if note.pcm.seconds > WHOLE_NOTE_S:
                decoder = self._decoders[0]
                decoder.start_utt()
                for at in range(0, len(note.pcm.data), step):
                    decoder.process_raw(note.pcm.data[at : at + step])
                    if time.monotonic() - started > self.max_decode_s:
                        log.warning("note %s: decoding stopped at %.0f s of audio", note.sid, at / step)
                        break
                decoder.end_utt()
                best = decoder.hyp()
            else:
                for decoder in self._decoders:
                    decoder.start_utt()
                    decoder.process_raw(note.pcm.data, full_utt=True)
                    decoder.end_utt()
                    hyp = decoder.hyp()
                    if hyp is not None and (best is None or hyp.score > best.score):
                        best = hyp
                    if time.monotonic() - started > self.max_decode_s:
                        break
        words = [w for w in (best.hypstr if best else "").split() if not w.startswith(("<", "["))]
        return Transcript(" ".join(words), self.name)
