"""The served code, not a registered model's snapshot of `training/`, runs both models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_model_snapshot_on_sys_path_does_not_shadow_the_served_training_code(tmp_path):
    # What loading an MLflow model with code_paths=["training"] does: its snapshot goes first on sys.path.
    snapshot = tmp_path / "code" / "training"
    snapshot.mkdir(parents=True)
    (snapshot / "__init__.py").write_text("")
    for name in ("portion", "portion_features", "food_detector", "voc"):
        (snapshot / f"{name}.py").write_text("raise ImportError('a stale model snapshot was imported')\n")
    script = (
        "import sys\n"
        "import serving.predictor\n"
        f"sys.path.insert(0, {str(snapshot.parent)!r})\n"
        "import training.portion, training.portion_features, training.food_detector, training.voc\n"
        "print(training.portion.__file__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == REPO / "training" / "portion.py"
