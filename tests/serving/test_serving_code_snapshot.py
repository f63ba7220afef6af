"""The deployed code, never a registered model's snapshot of it, runs both models, whatever loads first.

See training/inference/__init__.py: a model ships training/inference/ as `<model>/code/inference/`, and loading
it puts `<model>/code/` first on sys.path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

STALE = "raise ImportError('a stale model snapshot was imported')\n"


def saved_model_code(tmp_path: Path) -> Path:
    """The code folder of a model saved as the pipeline logs one, every module in it made stale."""
    import mlflow.pyfunc

    from training.inference.pyfunc import CODE, PortionModel

    (tmp_path / "portion").mkdir(parents=True)
    model = tmp_path / "model"
    mlflow.pyfunc.save_model(
        model,
        python_model=PortionModel(),
        artifacts={"portion": str(tmp_path / "portion")},
        code_paths=[str(CODE)],
        pip_requirements=["numpy"],
    )
    code = model / "code"
    for module in code.rglob("*.py"):
        module.write_text(STALE)
    return code


def run(script: str, repo_root: Path) -> str:
    out = subprocess.run([sys.executable, "-c", script], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_model_ships_the_inference_package_alone(tmp_path):
    from training.inference.pyfunc import CODE

    code = saved_model_code(tmp_path)
    assert [p.name for p in code.iterdir()] == ["inference"]  # no `training` that could stand in for the deployed one
    assert {p.relative_to(code / "inference") for p in code.rglob("*.py")} == {
        p.relative_to(CODE) for p in CODE.rglob("*.py")
    }


def test_model_snapshots_first_on_sys_path_do_not_shadow_the_deployed_code(tmp_path, repo_root):
    # Two loaded models: both code folders go first on sys.path, before anything imported `training`.
    first, second = saved_model_code(tmp_path / "a"), saved_model_code(tmp_path / "b")
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(second)!r}, {str(first)!r}]\n"
        "import training.inference.pyfunc, training.inference.plate, training.inference.portion_estimator\n"
        "import serving.service\n"
        "print(training.inference.portion_estimator.__file__)\n"
    )
    printed = run(script, repo_root)
    assert Path(printed.strip()) == repo_root / "training" / "inference" / "portion_estimator.py"


@pytest.mark.slow
def test_the_registered_champions_load_in_either_order_on_the_deployed_code(tiny_models, repo_root):
    import os

    from training.model_names import CHAMPION, DETECTOR_MODEL, PORTION_MODEL

    for names in ((PORTION_MODEL, DETECTOR_MODEL), (DETECTOR_MODEL, PORTION_MODEL)):
        script = (
            "import sys, mlflow\n"
            f"models = [mlflow.pyfunc.load_model(f'models:/{{n}}@{CHAMPION}') for n in {names!r}]\n"
            "inner = [m.unwrap_python_model() for m in models]\n"
            "print(sys.modules['training'].__file__)\n"
            "print(sys.modules[type(getattr(inner[0], 'estimator', None) or inner[0].detector).__module__].__file__)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script],
            cwd=repo_root,
            env={**os.environ, **tiny_models.env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-4000:]
        package, first_model_code = map(Path, out.stdout.split())
        assert package == repo_root / "training" / "__init__.py"
        assert first_model_code.is_relative_to(repo_root / "training" / "inference")


def test_bentofile_and_model_requirements_pin_what_constraints_pin(repo_root):
    """bentofile.yaml is static YAML for `bentoml build`, so it repeats the pins: it must repeat them exactly."""
    import re

    import yaml

    from training.inference.pyfunc import detector_requirements, portion_requirements

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name.strip()).lower()

    constraints = {}
    for line in (repo_root / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, pin = line.split("==", 1)
            constraints[canonical(name)] = pin.strip()
    bento = yaml.safe_load((repo_root / "bentofile.yaml").read_text())["python"]["packages"]
    for requirement in bento + detector_requirements() + portion_requirements():
        if "==" in requirement:
            name, pin = requirement.split("==", 1)
            assert pin.split("+")[0] == constraints[canonical(name)].split("+")[0], (
                requirement,
                constraints[canonical(name)],
            )
