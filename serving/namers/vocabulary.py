"""A cloud service's food words → our foods: ECUSTFD types and ImageNet food keys (data/foods.yaml), then the
everyday names of `nutrition.food_names.FOODS`; anything else stays the service's own words, with no NDB."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from nutrition.food_names import FOODS

log = logging.getLogger(__name__)

# Words that describe a food without changing which SR28 entry it is: "ripe red apple" is an apple. Cooking words
# that do change it (fried, roasted, creamed) are deliberately absent.
_MODIFIERS = frozenset(
    [
        "a",
        "an",
        "some",
        "fresh",
        "raw",
        "ripe",
        "whole",
        "half",
        "sliced",
        "slice",
        "slices",
        "chopped",
        "diced",
        "halved",
        "peeled",
        "cut",
        "piece",
        "pieces",
        "of",
        "red",
        "green",
        "yellow",
        "golden",
        "purple",
        "boiled",
        "steamed",
        "grilled",
        "plain",
    ]
)

_GLUED = {"kiwifruit": "kiwi", "kiwifruits": "kiwi"}  # the one glued "-fruit" a model says for a food of ours


@dataclass(frozen=True)
class FoodWord:
    name: str  # our key: an ECUSTFD type, an ImageNet food key or a FOODS name
    display: str
    ndb: str | None


def normalise(text: str) -> str:
    """'Kiwi-fruit ' → 'kiwi fruit', 'Jalapeño' → 'jalapeno': lower case ASCII, words of letters and digits only."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text.lower()).split())


def _variants(words: str):
    """The words as given, then singular ('strawberries' → 'strawberry'), then without describing words, then
    without a trailing 'fruit'."""
    seen = []
    plain = " ".join(w for w in words.split() if w not in _MODIFIERS)
    plain = _GLUED.get(plain, plain)
    for text in (words, plain, re.sub(r" fruits?$", "", plain)):  # "kiwi fruit"; never "grapefruit" → "grape"
        for candidate in (text, _singular(text)):
            if candidate and candidate not in seen:
                seen.append(candidate)
                yield candidate


def _singular(text: str) -> str:
    head, _, last = text.rpartition(" ")
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("oes", "ches", "shes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us")) and len(last) > 3:
        last = last[:-1]
    return f"{head} {last}".strip()


class FoodVocabulary:
    """Resolves free-text food names. Built from data/foods.yaml's `foods:` and `imagenet:` sections and FOODS.

    Earlier sources win a word: an ECUSTFD type keeps its name (the nutrition table knows it by name, custom
    foods included), so "kiwi" resolves to ECUSTFD's `qiwi`, not to FOODS' `kiwi`.
    """

    def __init__(self, words: dict[str, FoodWord]):
        self.words = words

    @classmethod
    def from_foods_yaml(cls, path: Path | None) -> FoodVocabulary:
        """The vocabulary of `path` (data/foods.yaml) plus FOODS; FOODS alone when `path` is None or missing."""
        words: dict[str, FoodWord] = {}
        spec: dict = {}
        if path is not None:
            try:
                spec = yaml.safe_load(Path(path).read_text()) or {}
            except OSError as exc:
                log.warning("food names: cannot read %s (%s); resolving through the everyday names only", path, exc)
            except yaml.YAMLError as exc:
                log.error("food names: %s is not valid YAML (%s); resolving through the everyday names only", path, exc)
            if not isinstance(spec, dict):
                log.warning("food names: %s is not a mapping; ignored", path)
                spec = {}
        for section in ("foods", "imagenet"):
            for key, entry in _entries(spec.get(section), section):
                # An ImageNet class that is an ECUSTFD food (`bread: {imagenet: French loaf, ecustfd: true}`) is
                # answered as that food: its class name becomes one more word for it.
                word = words.get(normalise(key)) if section == "imagenet" else None
                word = word or FoodWord(
                    key, str(entry.get("display") or key.replace("_", " ").capitalize()), _ndb(entry)
                )
                for text in (key, word.display, *_aliases(entry)):
                    words.setdefault(normalise(text), word)
        for key, food in FOODS.items():
            word = FoodWord(key, food.display, food.ndb)
            words.setdefault(normalise(key), word)
            words.setdefault(normalise(food.display), word)
        return cls(words)

    def resolve(self, text: str) -> FoodWord | None:
        """Our food for a service's words, or None."""
        for candidate in _variants(normalise(text)):
            if candidate in self.words:
                return self.words[candidate]
        return None


def _entries(section, name: str):
    """(key, mapping) pairs of a foods.yaml section, skipping (and logging) what isn't one; read defensively since
    the `imagenet:` section's exact layout belongs to the open-set naming part."""
    if section is None:
        return
    if isinstance(section, dict) and isinstance(section.get("foods") or section.get("classes"), dict | list):
        section = section.get("foods") or section.get("classes")
    if isinstance(section, list):
        pairs = [(e.get("key") or e.get("name"), e) if isinstance(e, dict) else (None, e) for e in section]
    elif isinstance(section, dict):
        pairs = [(k, {"ndb": v} if isinstance(v, str | int) else v) for k, v in section.items()]
    else:
        log.warning("food names: foods.yaml `%s:` is a %s, not a mapping; ignored", name, type(section).__name__)
        return
    for key, entry in pairs:
        if isinstance(key, str) and key and isinstance(entry, dict):
            yield key, entry
        else:
            log.warning("food names: foods.yaml `%s:` entry %r ignored", name, key if key else entry)


def _ndb(entry: dict) -> str | None:
    ndb = entry.get("ndb")
    if ndb is None or ndb == "":
        return None
    return str(ndb).zfill(5) if isinstance(ndb, int) else str(ndb)


def _aliases(entry: dict) -> list[str]:
    found = []
    for field in ("imagenet", "aliases", "synonyms", "names"):  # `imagenet`: the ImageNet class name
        value = entry.get(field)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found += [v for v in value if isinstance(v, str)]
    return found
