"""The import_labels stage: a bot export (labels.jsonl + photos/) read into labelled crops and their features, and
the empty default that keeps the pipeline as it was."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from training.data.crop_features import FEATURES_FILE, INDEX_FILE, load_features
from training.data.labelled import (
    LABELLED_COLUMNS,
    ExportError,
    class_info,
    labelled_features,
    opened_export,
    read_export,
)
from training.inference.backbone import FEATURE_DIM


class MeanColour:
    """A stand-in extractor: the crop's mean RGB and size in the first columns, so tests see what was cropped."""

    def __call__(self, crops):
        out = np.zeros((len(crops), FEATURE_DIM), dtype=np.float32)
        for i, crop in enumerate(crops):
            out[i, :3] = np.asarray(crop, dtype=np.float32).reshape(-1, 3).mean(axis=0)
            out[i, 3:5] = crop.size
        return out


def _photo(colour: str, size=(120, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def write_export(folder, rows_photos):
    """An export as bot.devtools.export_labels writes it."""
    (folder / "photos").mkdir(parents=True)
    lines = []
    for row, data in rows_photos:
        sha = hashlib.sha256(data).hexdigest()
        (folder / "photos" / sha).write_bytes(data)
        lines.append(json.dumps({"sha256": sha, **row}))
    (folder / "labels.jsonl").write_text("\n".join(lines) + "\n")
    return folder


BOX = {"xmin": 10.0, "ymin": 10.0, "xmax": 50.0, "ymax": 40.0}


@pytest.fixture
def export(tmp_path):
    return write_export(
        tmp_path / "export",
        [
            ({"box": BOX, "label": "20121", "ndb": "20121", "display": "Pasta", "user": "1"}, _photo("yellow")),
            ({"box": BOX, "label": "apple", "ndb": "09003", "display": "Apple", "user": "2"}, _photo("red")),
        ],
    )


def test_an_export_becomes_labelled_crops_with_their_words(export):
    examples = read_export(export)
    index, features = labelled_features(export, examples, MeanColour(), pad_fraction=0.1)
    assert list(index.columns) == LABELLED_COLUMNS and len(index) == 2 == len(features)
    assert list(index["label"]) == ["20121", "apple"] and set(index["split"]) == {"train"}
    assert features[0, :3] == pytest.approx([255, 255, 0], abs=1) and features[1, :3] == pytest.approx([255, 0, 0])
    assert tuple(features[0, 3:5]) == (48, 36)  # the box grown by 10 % each side, as extract_features crops
    assert class_info(index) == {
        "20121": {"display": "Pasta", "ndb": "20121"},
        "apple": {"display": "Apple", "ndb": "09003"},
    }


def test_a_tar_of_the_export_reads_the_same(export, tmp_path):
    archive = tmp_path / "export.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(export, arcname="labels-export")
    with opened_export(archive) as folder:
        assert [e.label for e in read_export(folder)] == ["20121", "apple"]


def test_a_broken_export_is_refused_with_what_is_wrong(export):
    photo = next((export / "photos").iterdir())
    photo.write_bytes(b"not the photo")
    with pytest.raises(ExportError, match="do not have that sha256"):
        read_export(export)
    photo.unlink()
    with pytest.raises(ExportError, match="not in photos/"):
        read_export(export)
    (export / "labels.jsonl").write_text('{"sha256": "ab", "label": "x"}\n')
    with pytest.raises(ExportError, match="not a labelled example"):
        read_export(export)


def test_a_box_outside_its_photo_is_refused(tmp_path):
    far = {"xmin": 500.0, "ymin": 500.0, "xmax": 600.0, "ymax": 600.0}
    folder = write_export(tmp_path / "e", [({"box": far, "label": "x", "ndb": None, "display": "X"}, _photo("blue"))])
    with pytest.raises(ExportError, match="outside"):
        labelled_features(folder, read_export(folder), MeanColour(), 0.1)


def test_the_stage_writes_an_empty_valid_output_without_a_source(tmp_path, repo_root, monkeypatch):
    from pipelines.import_labels import app
    from training.config import load_params

    monkeypatch.chdir(repo_root)
    assert load_params().import_labels.source is None  # the default: nothing to import, offline
    result = CliRunner().invoke(app, ["--out", str(tmp_path / "labelled")])
    assert result.exit_code == 0, result.output
    index, features = load_features(tmp_path / "labelled")
    assert len(index) == 0 and features.shape == (0, FEATURE_DIM) and list(index.columns) == LABELLED_COLUMNS


def test_the_stage_consumes_an_export(export, tmp_path, repo_root, monkeypatch):
    from pipelines.import_labels import app
    from training.inference.backbone import CropFeatureExtractor

    monkeypatch.chdir(repo_root)
    monkeypatch.setattr(CropFeatureExtractor, "from_dir", classmethod(lambda cls, directory, **kw: MeanColour()))
    result = CliRunner().invoke(app, ["--source", str(export), "--out", str(tmp_path / "labelled")])
    assert result.exit_code == 0, result.output
    assert "2 labelled crops of 2 foods" in result.output
    index, features = load_features(tmp_path / "labelled")
    assert list(index["display"]) == ["Pasta", "Apple"] and features.shape == (2, FEATURE_DIM)
    assert (tmp_path / "labelled" / INDEX_FILE).is_file() and (tmp_path / "labelled" / FEATURES_FILE).is_file()


def test_what_the_bot_exports_is_what_the_stage_reads(tmp_path):
    from datetime import UTC, datetime

    from bot.devtools.export_labels import export_labels
    from bot.storage.photo_store import LocalPhotoStore
    from bot.storage.records import LabelledCrop

    photos = LocalPhotoStore(tmp_path / "store")
    sha = photos.put(_photo("green"), "image/png")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    crop = LabelledCrop(1, 3, "SM1", sha, BOX, None, "20121", "20121", "Pasta", "2", "choice", {}, None, when)
    assert export_labels([crop], photos, tmp_path / "export") == (1, 0)
    (example,) = read_export(tmp_path / "export")
    assert (example.sha256, example.label, example.ndb, example.display, example.user) == (
        sha,
        "20121",
        "20121",
        "Pasta",
        "3",
    )
    index, _ = labelled_features(tmp_path / "export", [example], MeanColour(), 0.1)
    assert index.loc[0, ["xmin", "ymin", "xmax", "ymax"]].tolist() == [10.0, 10.0, 50.0, 40.0]
