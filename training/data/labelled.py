"""Labelled examples exported by the bot (people's names for foods in their photos), read into crops and features
like data/features, for the crop classifier to train on beside ECUSTFD.

The export (`python -m bot.devtools.export_labels --out DIR`) is a folder, or a .tar/.tar.gz of one, holding
`labels.jsonl` (one JSON object a line: sha256, box {xmin, ymin, xmax, ymax} in photo pixels, label, ndb, display,
user) and `photos/<sha256>` (the photo's bytes, as the bot stored them).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from training.data.crop_features import INDEX_COLUMNS
from training.inference.backbone import FEATURE_DIM, crop
from training.inference.boxes import Box

LABELS_FILE = "labels.jsonl"
PHOTOS_DIR = "photos"
LABELLED_SPLIT = "train"  # labelled examples only ever train: the gate and the figures are ECUSTFD's val and test
# data/features' columns, then who named the food and how the namer should answer it
LABELLED_COLUMNS = [*INDEX_COLUMNS, "ndb", "display", "user"]


class ExportError(ValueError):
    """An export is malformed: a row lacks a field, a photo is missing or its bytes do not match its sha256."""


@dataclass(frozen=True)
class LabelledExample:
    sha256: str
    box: Box
    label: str
    ndb: str | None
    display: str
    user: str

    @classmethod
    def from_row(cls, row: dict, where: str) -> LabelledExample:
        try:
            box = row["box"]
            return cls(
                str(row["sha256"]),
                Box(float(box["xmin"]), float(box["ymin"]), float(box["xmax"]), float(box["ymax"])),
                str(row["label"]),
                None if row.get("ndb") is None else str(row["ndb"]),
                str(row.get("display") or row["label"]),
                str(row.get("user", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportError(f"{where}: not a labelled example ({exc!r}): {row}") from None


@contextmanager
def opened_export(source: Path) -> Iterator[Path]:
    """The export's folder: `source` itself, or a tar archive unpacked into a temporary folder."""
    source = Path(source)
    if source.is_dir():
        yield source
        return
    if not source.is_file():
        raise FileNotFoundError(f"labelled export not found: {source}")
    with tempfile.TemporaryDirectory(prefix="labels-") as tmp, tarfile.open(source) as archive:
        archive.extractall(tmp, filter="data")
        roots = list(Path(tmp).rglob(LABELS_FILE))
        if len(roots) != 1:
            raise ExportError(f"{source}: holds {len(roots)} {LABELS_FILE} files, not one")
        yield roots[0].parent


def read_export(folder: Path) -> list[LabelledExample]:
    """The examples of an export folder, in file order; every photo they name must be there, with those bytes."""
    labels = Path(folder) / LABELS_FILE
    if not labels.is_file():
        raise ExportError(f"{folder}: no {LABELS_FILE}")
    examples = []
    for number, line in enumerate(labels.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExportError(f"{labels}:{number}: not JSON ({exc})") from None
        examples.append(LabelledExample.from_row(row, f"{labels}:{number}"))
    for sha in sorted({e.sha256 for e in examples}):
        photo = Path(folder) / PHOTOS_DIR / sha
        if not photo.is_file():
            raise ExportError(f"{folder}: photo {sha} is named in {LABELS_FILE} but not in {PHOTOS_DIR}/")
        if hashlib.sha256(photo.read_bytes()).hexdigest() != sha:
            raise ExportError(f"{photo}: its bytes do not have that sha256")
    return examples


def empty_labelled() -> tuple[pd.DataFrame, np.ndarray]:
    """No labelled examples: an index with the columns and no row, features [0, FEATURE_DIM]."""
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in LABELLED_COLUMNS}), np.zeros(
        (0, FEATURE_DIM), dtype=np.float32
    )


def labelled_features(
    folder: Path, examples: list[LabelledExample], extractor, pad_fraction: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """Each example's crop (its box, padded as extract_features pads) and its MobileNetV2 features.

    A photo is read as the served path reads it: EXIF orientation applied, RGB.
    """
    if not examples:
        return empty_labelled()
    crops, rows = [], []
    for example in examples:
        data = (Path(folder) / PHOTOS_DIR / example.sha256).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            box = example.box
            try:
                crops.append(crop(image, box, pad_fraction))
            except ValueError as exc:
                raise ExportError(f"photo {example.sha256}: {exc}") from None
        rows.append(
            {
                "image": example.sha256,
                "item_id": f"labelled-{example.sha256[:16]}",  # one photo, one item: a person's plate
                "label": example.label,
                "view": "",
                "xmin": box.xmin,
                "ymin": box.ymin,
                "xmax": box.xmax,
                "ymax": box.ymax,
                "weight_g": float("nan"),
                "volume_ml": float("nan"),
                "split": LABELLED_SPLIT,
                "ndb": example.ndb,
                "display": example.display,
                "user": example.user,
            }
        )
    return pd.DataFrame(rows, columns=LABELLED_COLUMNS), extractor(crops)


def class_info(index: pd.DataFrame) -> dict[str, dict]:
    """{label: {"display", "ndb"}} of the labelled classes (the last example's words for each)."""
    return {
        str(r.label): {"display": str(r.display), "ndb": None if pd.isna(r.ndb) else str(r.ndb)}
        for r in index.itertuples()
    }


def _dtype(column: str) -> str:
    return "float64" if column in ("xmin", "ymin", "xmax", "ymax", "weight_g", "volume_ml") else "object"
