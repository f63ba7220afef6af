"""`dvc repro` of the data stages on the real data, in a throw-away copy of the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_data_stages_reproduce_and_status_is_clean(ecustfd_dir, tmp_path, project_copy):
    project = project_copy(tmp_path / "project")
    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["data"]["ecustfd"]["source"] = str(ecustfd_dir)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))

    result = dvc(project, "repro", "prepare")
    assert result.returncode == 0, result.stdout + result.stderr

    summary = json.loads((project / "reports" / "data" / "summary.json").read_text())
    assert summary["n_food_classes"] == 19 and summary["classes"][-1] == "coin"
    assert summary["n_images"] == 2964 and summary["n_items"] == 160 and summary["n_item_foods"] == 174
    assert all(summary["splits"][s]["items"] > 0 for s in ("train", "val", "test"))

    status = dvc(project, "status", "prepare")
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert {"fetch_ecustfd", "prepare"} <= set(lock["stages"])
