"""bot.devtools.export_labels: the labelled crops and their stored photos, in the folder import_labels reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from typer.testing import CliRunner

from bot.devtools.export_labels import cli, export_labels
from bot.storage.photo_store import LocalPhotoStore
from bot.storage.records import LabelledCrop

BOX = {"xmin": 1.0, "ymin": 2.0, "xmax": 30.0, "ymax": 40.0}


def _crop(id_, sha, label="20121", box=BOX, user=7):
    return LabelledCrop(
        id_,
        user,
        f"SM{id_}",
        sha,
        box,
        {"width": 64, "height": 48},
        label,
        label,
        "Pasta",
        "2",
        "choice",
        {},
        None,
        datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_the_export_holds_each_crop_with_its_photo_and_leaves_out_what_cannot_train(tmp_path):
    photos = LocalPhotoStore(tmp_path / "store")
    sha = photos.put(b"photo bytes", "image/jpeg")
    missing = "f" * 64
    crops = [_crop(1, sha), _crop(2, sha, label="apple"), _crop(3, missing), _crop(4, None), _crop(5, sha, box=None)]
    written, left_out = export_labels(crops, photos, tmp_path / "out")
    assert (written, left_out) == (2, 3)
    rows = [json.loads(line) for line in (tmp_path / "out" / "labels.jsonl").read_text().splitlines()]
    assert rows[0] == {"sha256": sha, "box": BOX, "label": "20121", "ndb": "20121", "display": "Pasta", "user": "7"}
    assert [r["label"] for r in rows] == ["20121", "apple"]
    assert (tmp_path / "out" / "photos" / sha).read_bytes() == b"photo bytes"
    assert not (tmp_path / "out" / "photos" / missing).exists()


def test_the_cli_reads_the_bots_database_and_photo_store(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT_DATABASE_URL", f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    monkeypatch.setenv("BOT_PHOTO_STORE", str(tmp_path / "store"))
    from bot.storage.sql.store import SqlStore

    SqlStore(f"sqlite:///{tmp_path / 'bot.sqlite3'}").create_schema()
    result = CliRunner().invoke(cli, ["--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "exported 0 labelled crops" in result.output
    assert (tmp_path / "out" / "labels.jsonl").read_text() == ""
