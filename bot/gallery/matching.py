"""The gallery: an unknown food is named after the labelled crops it looks like (cosine of crop embeddings).

The person's own labels count first. Other people's name a food only when `confirmations` different people
gave that label to crops this similar, so one person cannot teach everyone a wrong name.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.storage.records import LabelledCrop


def decode_embedding(text: str | None) -> np.ndarray | None:
    """The server's base64 float16 embedding as a unit float32 vector; None for anything malformed."""
    if not text:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _unit(raw)


def _unit(raw: bytes | None) -> np.ndarray | None:
    if not raw or len(raw) % 2:
        return None
    vector = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        return None
    return vector / norm


def embedding_bytes(text: str | None) -> bytes | None:
    """What the store keeps of a valid embedding: its float16 bytes as sent."""
    return base64.b64decode(text) if decode_embedding(text) is not None else None


@dataclass(frozen=True)
class GalleryMatch:
    label: str
    ndb: str | None
    display_name: str
    cosine: float
    people: int  # how many people gave this label to crops this similar
    own: bool  # named from the person's own labels


def best_match(
    query: np.ndarray, user_id: int, crops: Sequence[LabelledCrop], min_cosine: float, confirmations: int
) -> GalleryMatch | None:
    """The label the gallery gives `query` for `user_id`, or None."""
    vectors, kept = [], []
    for crop in crops:
        vector = _unit(crop.embedding)
        if vector is not None and vector.shape == query.shape:
            vectors.append(vector)
            kept.append(crop)
    if not kept:
        return None
    cosines = np.stack(vectors) @ query
    close = [(float(c), crop) for c, crop in zip(cosines, kept, strict=True) if c >= min_cosine]
    own = [(c, crop) for c, crop in close if crop.user_id == user_id]
    if own:
        cosine, crop = max(own, key=lambda pair: pair[0])
        return GalleryMatch(crop.label, crop.ndb, crop.display_name, cosine, 1, own=True)
    people: dict[str, set[int]] = {}
    best: dict[str, tuple[float, LabelledCrop]] = {}
    for cosine, crop in close:
        people.setdefault(crop.label, set()).add(crop.user_id)
        if crop.label not in best or cosine > best[crop.label][0]:
            best[crop.label] = (cosine, crop)
    agreed = [label for label, who in people.items() if len(who) >= confirmations]
    if not agreed:
        return None
    label = max(agreed, key=lambda lab: (len(people[lab]), best[lab][0]))
    cosine, crop = best[label]
    return GalleryMatch(label, crop.ndb, crop.display_name, cosine, len(people[label]), own=False)
