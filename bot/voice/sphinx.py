"""The offline default: CMU PocketSphinx (its wheel ships the en-US acoustic model and CMUdict) with our own
language, built at start from `bot.voice.vocabulary`: a JSGF grammar (the default: only what the bot understands
can be heard) or a trigram model (more forgiving, less accurate on our notes: README, "Voice notes"), and a
dictionary of only those words.

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
# Word and phone insertion penalties below PocketSphinx's (0.65, 1.0): on our test notes fewer words are invented
# between the foods ("200 grams oats and salmon"); 38 of 60 clean development notes logged right against 35.
GRAMMAR_OPTIONS = {"wip": 0.2, "pip": 0.5}
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
        self, search: Search = "grammar", model_dir: Path | None = None, max_decode_s: float = 30.0, **options
    ):
        """Args:
        search: "grammar" (JSGF) or "ngram" (a trigram model of the same sentences).
        model_dir: where to write them (a temporary directory by default).
        options: more PocketSphinx settings (`beam`, `wip`, ...), as its `Config` names them.
        """
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
        config = Config(samprate=16000, loglevel="FATAL", **build_search(model_dir, search))
        for name, value in {**(GRAMMAR_OPTIONS if search == "grammar" else {}), **options}.items():
            config[name] = value
        self._decoder = Decoder(config)
        self._lock = threading.Lock()

    def transcribe(self, note: Note) -> Transcript:
        """The words of `note`. A note of up to 20 s is decoded whole (its cepstral mean known up front: 38 of 60
        development notes right against 35 fed by the second); a longer one by the second, and past `max_decode_s`
        the rest is not listened to, so a noisy minute (README, "Voice notes") never outlives the message's lease."""
        step = 2 * 16000  # one second of samples, in bytes
        with self._lock:
            decoder = self._decoder
            started = time.monotonic()
            decoder.start_utt()
            if note.pcm.seconds <= WHOLE_NOTE_S:
                decoder.process_raw(note.pcm.data, full_utt=True)
            else:
                for at in range(0, len(note.pcm.data), step):
                    decoder.process_raw(note.pcm.data[at : at + step])
                    if time.monotonic() - started > self.max_decode_s:
                        log.warning("note %s: decoding stopped at %.0f s of audio", note.sid, at / step)
                        break
            decoder.end_utt()
            hyp = decoder.hyp()
        words = [w for w in (hyp.hypstr if hyp else "").split() if not w.startswith(("<", "["))]
        return Transcript(" ".join(words), self.name)
