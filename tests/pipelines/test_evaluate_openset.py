"""The evaluate_openset stage CLI end to end on a small synthetic feature set: figures, the served namer, and that
the namer it writes loads and names crops."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from training.data.crop_features import FEATURES_FILE, INDEX_FILE

DIM = 16
FOODS = ("apple", "banana", "bread", "egg", "grape", "lemon", "mango", "orange", "pear", "plum")
SPLIT_ITEMS = {"train": 3, "val": 1, "test": 1}
CROPS_PER_ITEM = 4


@pytest.fixture
def stage_inputs(tmp_path, usda_tables_dir, synthetic_crops):
    import torch

    from training.detector.fit import fit_classifier
    from training.inference.crop_classifier import WEIGHTS_FILE as CLASSIFIER_FILE

    index, features = synthetic_crops(
        FOODS, SPLIT_ITEMS, photos_per_item=CROPS_PER_ITEM, dim=DIM, noise=1.0, out=tmp_path / "features"
    )
    detector, backbone = tmp_path / "detector", tmp_path / "backbone"
    detector.mkdir()
    backbone.mkdir()
    fit_classifier(features, index["label"].tolist(), c=0.03).save(detector / CLASSIFIER_FILE)
    weight = np.zeros((1000, DIM), dtype=np.float32)
    weight[954, FOODS.index("banana")] = 2.0  # ImageNet sees bananas
    state = {"classifier.1.weight": torch.from_numpy(weight), "classifier.1.bias": torch.zeros(1000)}
    torch.save(state, backbone / "mobilenet_v2.pth")
    foods_map = tmp_path / "foods.yaml"
    foods_map.write_text(
        yaml.safe_dump(
            {
                "foods": {f: {"display": f.title(), "ndb": None} for f in FOODS},
                "imagenet": {
                    "banana": {"imagenet": "banana", "index": 954, "ecustfd": True},
                    "broccoli": {
                        "imagenet": "broccoli",
                        "index": 937,
                        "display": "Broccoli",
                        "ndb": "11090",
                        "portion": "cup chopped",
                    },
                },
            }
        )
    )
    from training.data.labelled import empty_labelled

    labelled_index, labelled_features = empty_labelled()  # no labelled examples: import_labels' default
    (tmp_path / "labelled").mkdir()
    labelled_index.to_parquet(tmp_path / "labelled" / INDEX_FILE)
    np.save(tmp_path / "labelled" / FEATURES_FILE, labelled_features[:, :DIM])
    options = {
        "--features": tmp_path / "features",
        "--labelled": tmp_path / "labelled",
        "--detector": detector,
        "--backbone": backbone,
        "--nutrition": usda_tables_dir,
        "--foods-map": foods_map,
        "--out": tmp_path / "namer",
        "--reports": tmp_path / "reports",
    }
    return tmp_path, [str(part) for pair in options.items() for part in pair], features


def test_the_stage_writes_figures_beside_the_baseline_and_a_namer_that_loads(stage_inputs, repo_root, monkeypatch):
    from pipelines.evaluate_openset import FOLDS_FILE, app
    from training.config import load_params
    from training.inference.naming import NAMER_FILE, UNKNOWN, FoodNamer

    root, args, features = stage_inputs
    monkeypatch.chdir(repo_root)  # params.yaml
    cfg = load_params().evaluate_openset
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "unknowns caught or named right" in result.output

    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    pooled, base = metrics["test"]["namer"], metrics["test"]["closed_set"]
    assert metrics["chosen_on"] == "val" and len(metrics["folds"]) == cfg.folds
    assert sorted(f for fold in metrics["folds"] for f in fold["hidden"]) == sorted(FOODS)
    assert base["unknown_ok"] == 0.0 and base["known_rejected"] == 0.0  # the argmax never abstains
    # separable synthetic foods: the namer catches most unknowns, keeps most knowns
    assert pooled["unknown_ok"] > 0.5 and pooled["known_rejected"] <= 0.25 and pooled["auroc"] > 0.8
    low, high = pooled["unknown_ok_ci95"]
    assert low <= pooled["unknown_ok"] <= high
    assert metrics["goal"]["unknown_ok_at_least"] == cfg.goal_unknown_ok
    assert len(pd.read_csv(root / "reports" / FOLDS_FILE)) == cfg.folds + 1

    spec = json.loads((root / "namer" / NAMER_FILE).read_text())
    assert spec["thresholds"] == metrics["thresholds"]
    assert spec["criterion"]["known_rejection_budget"] == cfg.known_rejection_budget
    assert {f["key"]: f["serving_g"] for f in spec["imagenet_foods"]} == {"broccoli": 91.0, "banana": None}

    namer = FoodNamer.from_dirs(root / "detector", root / "backbone", root / "namer")
    names = namer.name(features[:8].astype(np.float32))
    assert len(names) == 8 and all(n.name in (*FOODS, UNKNOWN, "broccoli") for n in names)
    unseen = np.zeros((20, DIM), dtype=np.float32)
    unseen[:, DIM - 1] = 6.0  # a food on an axis none of the ten uses
    unseen += np.random.default_rng(1).normal(0, 1.0, unseen.shape).astype(np.float32)
    assert np.mean([n.name == UNKNOWN for n in namer.name(unseen)]) > 0.5


def test_a_missing_input_is_one_clear_line(stage_inputs, repo_root, monkeypatch):
    import subprocess
    import sys

    root, args, _ = stage_inputs
    args[args.index("--detector") + 1] = str(root / "nowhere")
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.evaluate_openset", *args], cwd=repo_root, capture_output=True, text=True
    )
    assert done.returncode == 1 and "crop classifier not found" in done.stderr


def test_labelled_examples_train_the_folds_and_the_served_statistics_and_keep_their_words(
    stage_inputs, repo_root, monkeypatch
):
    from pipelines.evaluate_openset import app
    from training.data.labelled import LABELLED_COLUMNS
    from training.inference.naming import NAMER_FILE

    root, args, _ = stage_inputs
    monkeypatch.chdir(repo_root)
    assert CliRunner().invoke(app, args).exit_code == 0
    before = json.loads((root / "namer" / NAMER_FILE).read_text())
    # six crops of a food none of the ten is, taught as SR28 pasta
    taught = np.zeros((6, DIM), dtype=np.float32)
    taught[:, DIM - 2] = 6.0
    rows = [dict.fromkeys(LABELLED_COLUMNS) | {"label": "20121", "ndb": "20121", "display": "Pasta"} for _ in range(6)]
    pd.DataFrame(rows, columns=LABELLED_COLUMNS).astype({"xmin": float}).to_parquet(root / "labelled" / INDEX_FILE)
    np.save(root / "labelled" / FEATURES_FILE, taught)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    after = json.loads((root / "namer" / NAMER_FILE).read_text())
    assert after["n_statistics_crops"] == before["n_statistics_crops"] + 6
    assert after["ecustfd"]["20121"] == {"display": "Pasta", "ndb": "20121"}
    assert {k: v for k, v in after["ecustfd"].items() if k != "20121"} == before["ecustfd"]
