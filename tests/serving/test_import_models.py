"""`serving.import_models` against a real MLflow registry and a real BentoML store (both temporary)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

# Registers a constant pyfunc as `toy` v1 champion in a new registry, imports it, prints the store's latest.
SCRIPT = """
import json, sys, mlflow, bentoml
from serving.import_models import import_champion
value, uri = int(sys.argv[1]), sys.argv[2]
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)

class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [VALUE] * len(model_input)

with mlflow.start_run() as run:
    mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=["mlflow"])
version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "toy")
client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
client.set_registered_model_alias("toy", "champion", version.version)
model = import_champion(client, "toy", "champion")
latest = bentoml.models.get("toy:latest")
print(json.dumps({"tag": str(model.tag), "latest": str(latest.tag), "run_id": latest.info.metadata["run_id"],
                  "run": run.info.run_id, "version": version.version}))
"""


def test_a_new_registry_v1_is_imported_again_and_served(tmp_path, repo_root):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "BENTOML_"))}
    env.update(
        BENTOML_HOME=str(tmp_path / "bentoml"),
        MLFLOW_DISABLE_TELEMETRY="true",
        BENTOML_DO_NOT_TRACK="true",
        PYTHONPATH=str(repo_root),
    )
    answers = []
    for value, registry in ((1, "first"), (2, "second")):  # two registries: both number their model v1
        (tmp_path / registry).mkdir()
        script = SCRIPT.replace("VALUE", str(value))
        done = subprocess.run(
            [sys.executable, "-c", script, str(value), f"sqlite:///{tmp_path / registry / 'mlflow.db'}"],
            cwd=tmp_path / registry,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        answers.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = answers
    assert str(first["version"]) == str(second["version"]) == "1"
    assert first["tag"] != second["tag"]  # the run id tells the two v1s apart
    assert second["latest"] == second["tag"] and second["run_id"] == second["run"]  # what the service would load
