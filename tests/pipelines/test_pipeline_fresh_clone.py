"""The fresh-clone path of `make run`, on a tiny profile: `dvc repro`, forget the registry, `dvc repro` again.

A copy of the repository (the files git sees, no data, no models, no MLflow store) runs the whole real
pipeline on a dozen ECUSTFD items with a one-epoch localiser at 96 px. Both champions must be in the
registry afterwards, a second `dvc repro` must register nothing, and after the MLflow store is deleted
a third `dvc repro` must register both again, so that `serving.import_models` succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from training.files import RECEIPT_FILE, SWEEP_FILE, THRESHOLDS_FILE
from training.inference.plate import THRESHOLDS_KEY
from training.model_names import CHAMPION, DETECTOR_MODEL, PORTION_MODEL

pytestmark = pytest.mark.slow

# Four items of three foods: each food has one item in val, one in test and two in train.
ITEMS = (
    "apple001",
    "apple003",
    "apple004",
    "apple005",
    "banana001",
    "banana002",
    "banana003",
    "banana004",
    "bread003",
    "bread004",
    "bread005",
    "bread006",
)
MODELS = (DETECTOR_MODEL, PORTION_MODEL)


def tiny_params(params: dict, ecustfd: Path, n_images: int) -> dict:
    params["data"]["ecustfd"].update(source=str(ecustfd), expected_images=n_images)
    params["train_detector"]["profile"] = "tiny"
    params["train_detector"]["classifier"]["c_grid"] = [0.1, 1.0]
    params["train_portion"].update(epochs=40, members=2, cv_folds=2, cv_members=1)
    params["finetune_portion"].update(first_tuned=[17], lr=[0.001], epochs=1, augmentations=[])  # one block, one epoch
    # Models this small miss the real gates; the registry path under test is the same either way.
    params["register_detector"]["min_food_top1"] = 0.0
    params["register_portion"]["min_gain_over_class_mean"] = -100.0
    params["tune_serving"].update(food=[0.1, 0.05], coin=[0.05], overlap_iou=[0.3, 0.7])  # 4 points, one detector pass
    params["evaluate_openset"]["folds"] = 3  # three foods: each fold hides one
    params["learning_curve"].update(ks=[1], repeats=1, retrain_repeats=1, at_k=1)
    return params


def run(project: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", *args], cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


def registered(project: Path, env: dict) -> dict[str, list[str]]:
    """{model: [versions]} and the champion of each, read from the copy's registry in a separate process."""
    script = (
        "import json, mlflow\n"
        "c = mlflow.MlflowClient()\n"
        "out = {}\n"
        f"for name in {MODELS!r}:\n"
        "    out[name] = {'versions': sorted(v.version for v in c.search_model_versions(f\"name='{name}'\")),\n"
        f"                 'champion': c.get_model_version_by_alias(name, {CHAMPION!r}).version}}\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def test_fresh_clone_repro_registers_both_champions_and_repairs_a_lost_registry(
    ecustfd_dir, tmp_path, copy_items, project_copy
):
    raw = copy_items(ecustfd_dir, tmp_path / "ecustfd", ITEMS)
    project = project_copy(tmp_path / "project")
    params_file = project / "params.yaml"
    n_images = len(list((raw / "JPEGImages").iterdir()))
    params_file.write_text(
        yaml.safe_dump(tiny_params(yaml.safe_load(params_file.read_text()), raw, n_images), sort_keys=False)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "BENTOML_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        DVC_NO_ANALYTICS="1",
        YOLO_OFFLINE="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        BENTOML_DO_NOT_TRACK="true",
        BENTOML_HOME=str(tmp_path / "bentoml"),
        PLATE_CACHE_DIR=str(tmp_path / "cache"),
    )

    first = run(project, env, "dvc", "repro")
    assert f"register_portion: {PORTION_MODEL} v1 registered" in first.stdout + first.stderr
    state = registered(project, env)
    assert {name: s["champion"] for name, s in state.items()} == dict.fromkeys(MODELS, 1), state
    receipt = json.loads((project / "reports" / "portion" / RECEIPT_FILE).read_text())
    assert receipt["champion_version"] == "1" and not receipt["reused"]
    # the gate is the chosen model's own: val for the frozen ensemble, CV for the fine-tuned one (trained on val too)
    chosen = json.loads((project / "reports" / "portion" / "comparison.json").read_text())["chosen_by_cv"]
    expected = "val_model_mass_mape" if chosen == "frozen" else "cv_fine_tuned_mass_mape"
    assert receipt["gate"]["metric"] == expected and receipt["data_version"] != "unknown"
    # The served thresholds were chosen on the val photos and ship inside the registered detector.
    chosen = json.loads((project / "models" / "serving" / THRESHOLDS_FILE).read_text())
    assert chosen["chosen_on"] == "val" and chosen["grid_points"] == 4
    assert len(pd.read_csv(project / "reports" / "serving" / SWEEP_FILE)) == 4
    meal = json.loads((project / "reports" / "meal" / "metrics.json").read_text())
    assert meal["thresholds"] == chosen[THRESHOLDS_KEY]
    detector_receipt = json.loads((project / "reports" / "detector" / RECEIPT_FILE).read_text())
    assert detector_receipt["serving_format"] == "torch"  # serving runs the pyfunc's torch weights, ONNX or not
    assert isinstance(detector_receipt["onnx_exported"], bool)
    lock_after_first = (project / "dvc.lock").read_text()

    # A second repro changes nothing: no stage but the registrations runs, and they find their versions.
    second = run(project, env, "dvc", "repro")
    out = second.stdout + second.stderr
    assert all(f"{name} v1 already registered" in out for name in MODELS), out
    assert "Running stage 'train_" not in out, out
    assert registered(project, env) == state
    assert (project / "dvc.lock").read_text() == lock_after_first
    reused = json.loads((project / "reports" / "detector" / RECEIPT_FILE).read_text())
    assert reused["reused"] and reused["onnx_exported"] == detector_receipt["onnx_exported"]  # read from the run

    # The registry is lost (a new machine keeps the DVC cache, a teammate points at a new server...):
    # the next repro trains nothing and registers both again.
    (project / "mlflow.db").unlink()
    shutil.rmtree(project / "mlruns", ignore_errors=True)
    third = run(project, env, "dvc", "repro")
    assert "Running stage 'train_" not in third.stdout + third.stderr
    state = registered(project, env)
    assert {name: s["champion"] for name, s in state.items()} == dict.fromkeys(MODELS, 1), state

    imported = run(project, env, "serving.import_models")
    assert all(f"{name}:v1" in imported.stdout for name in MODELS), imported.stdout
