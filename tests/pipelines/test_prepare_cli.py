import json

import pandas as pd
from typer.testing import CliRunner

from pipelines.prepare import app

runner = CliRunner()


def test_prepare_writes_manifest_splits_and_summary(mini_ecustfd, tmp_path):
    out, reports = tmp_path / "prepared", tmp_path / "reports"
    result = runner.invoke(app, ["--raw", str(mini_ecustfd), "--out", str(out), "--reports", str(reports)])
    assert result.exit_code == 0, result.output
    images = pd.read_parquet(out / "images.parquet")
    objects = pd.read_parquet(out / "objects.parquet")
    assert images.groupby("item_id")["split"].nunique().max() == 1
    assert set(objects["split"]) <= {"train", "val", "test"}
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["n_items"] == images["item_id"].nunique() == 11
    assert sum(s["images"] for s in summary["splits"].values()) == len(images)
    assert (out / "yolo" / "data.yaml").is_file()


def test_prepare_fails_cleanly_and_writes_nothing(mini_ecustfd, tmp_path):
    (mini_ecustfd / "Annotations" / "apple002T(1).xml").write_text("<annotation>")
    out = tmp_path / "prepared"
    result = runner.invoke(app, ["--raw", str(mini_ecustfd), "--out", str(out), "--reports", str(tmp_path / "r")])
    assert result.exit_code != 0
    assert "apple002T(1).xml" in str(result.exception)
    assert not out.exists() and not (tmp_path / "r").exists()
