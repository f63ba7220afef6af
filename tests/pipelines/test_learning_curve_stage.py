"""The learning_curve stage CLI end to end on a small synthetic feature set: the curve, its table, grid and plot."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

DIM = 16
FOODS = ("apple", "banana", "bread", "egg", "grape", "lemon", "mango", "orange", "pear", "plum")
SPLIT_ITEMS = {"train": 4, "val": 1, "test": 1}
PHOTOS_PER_ITEM = 3


@pytest.fixture
def stage_inputs(tmp_path, synthetic_crops):
    import torch

    from training.inference.naming import NAMER_FILE

    synthetic_crops(FOODS, SPLIT_ITEMS, PHOTOS_PER_ITEM, dim=DIM, out=tmp_path / "features")
    (tmp_path / "backbone").mkdir()
    state = {"classifier.1.weight": torch.zeros(1000, DIM), "classifier.1.bias": torch.zeros(1000)}
    torch.save(state, tmp_path / "backbone" / "mobilenet_v2.pth")
    (tmp_path / "namer").mkdir()
    namer = {
        "thresholds": {"known_score": 1.0, "imagenet_probability": None, "knn_weight": 3.0},
        "imagenet_foods": [{"key": "pizza", "index": 963}],
    }
    (tmp_path / "namer" / NAMER_FILE).write_text(json.dumps(namer))
    options = {
        "--features": tmp_path / "features",
        "--namer": tmp_path / "namer",
        "--backbone": tmp_path / "backbone",
        "--reports": tmp_path / "reports",
    }
    return tmp_path, [str(part) for pair in options.items() for part in pair]


def test_the_stage_writes_the_curve_per_way_and_k_beside_the_namer_alone(stage_inputs, repo_root, monkeypatch):
    from pipelines.learning_curve import CURVE_FILE, GRID_FILE, PLOT_FILE, TABLE_FILE, app
    from training.config import load_params

    root, args = stage_inputs
    monkeypatch.chdir(repo_root)  # params.yaml
    cfg = load_params().learning_curve
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"new-food top-1 at k={cfg.at_k}" in result.output

    curve = json.loads((root / "reports" / CURVE_FILE).read_text())
    assert curve["ks"] == [0, *cfg.ks]
    assert set(curve["test"]) == {"gallery", "gallery_unknown_only", "retrain"}
    for way, by_k in curve["test"].items():
        assert set(by_k) == {f"k{k}" for k in curve["ks"]}, way  # (written with sorted keys)
        assert by_k["k0"]["new_top1"] == 0.0  # the namer alone never names a food it was not taught
        assert by_k[f"k{cfg.at_k}"]["new_top1"] > by_k["k1"]["new_top1"] or by_k["k1"]["new_top1"] > 0.9
        low, high = by_k[f"k{cfg.at_k}"]["new_top1_ci95"]
        assert low <= by_k[f"k{cfg.at_k}"]["new_top1"] <= high
    assert curve["test"]["gallery"][f"k{cfg.at_k}"]["new_top1"] >= 0.9  # separable foods: learned from a few photos
    assert curve["gallery_threshold"]["gallery"]["chosen_on"] == "val"
    assert curve["gallery_threshold"]["gallery"]["cosine"] in cfg.gallery_cosine
    assert len(curve["folds"]) == load_params().evaluate_openset.folds
    assert sorted(f for fold in curve["folds"] for f in fold["hidden"]) == sorted(FOODS)
    assert set(curve["goal"]) >= {"gallery", "retrain", "at_k"} and isinstance(curve["goal"]["gallery"]["met"], bool)
    table = pd.read_csv(root / "reports" / TABLE_FILE)
    assert set(table["fold"].astype(str)) == {"pooled", *map(str, range(len(curve["folds"])))}
    grid = pd.read_csv(root / "reports" / GRID_FILE)
    assert grid.groupby("way")["chosen"].sum().to_dict() == {"gallery": 1, "gallery_unknown_only": 1}
    assert (root / "reports" / PLOT_FILE).stat().st_size > 1000


def test_a_missing_namer_is_one_clear_line(stage_inputs, repo_root):
    import subprocess
    import sys

    root, args = stage_inputs
    args[args.index("--namer") + 1] = str(root / "nowhere")
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.learning_curve", *args], cwd=repo_root, capture_output=True, text=True
    )
    assert done.returncode == 1 and "namer not found" in done.stderr
