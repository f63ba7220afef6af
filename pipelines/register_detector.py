"""Stage register_detector: log the detector to MLflow, export ONNX, and move `champion` only through the gate."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


def flat_metrics(metrics: dict) -> dict[str, float]:
    test = metrics["test"]
    flat = {k: float(v) for k, v in test.items() if isinstance(v, (int, float))}
    flat.update({f"ap50_{k}": v["ap50"] for k, v in test["per_class"].items()})
    flat["baseline_food_top1"] = float(metrics["baseline"]["food_top1"])
    return flat


@app.command()
def main(
    receipt: Annotated[Optional[Path], typer.Option(help="Receipt JSON (default: <detector reports>/registration.json).")] = None,
) -> None:
    """Register food-detector; the receipt says which version is champion and which format to serve."""
    from training.atomic import write_json
    from training.detector import WEIGHTS_FILE
    from training.detector_pyfunc import FoodDetectorModel, signature
    from training.registry import data_version, register_with_gate
    from training.yolo_env import load_ultralytics

    setup_logging()
    params = load_params()
    paths, cfg, train = params.paths, params.register_detector, params.train_detector
    metrics = json.loads((paths.detector_reports / "metrics.json").read_text())
    receipt = receipt or paths.detector_reports / "registration.json"

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps({"imgsz": train.active.imgsz, "conf": cfg.conf, "pad_fraction": params.extract_features.pad_fraction}))
        onnx_path = None
        try:
            exported = load_ultralytics().YOLO(str(paths.detector / WEIGHTS_FILE)).export(format="onnx", imgsz=train.active.imgsz, dynamic=False)
            onnx_path = Path(tmp) / "localiser.onnx"
            Path(exported).replace(onnx_path)
        except Exception as exc:  # noqa: BLE001 — ONNX is an extra; the torch model is still registered
            typer.secho(f"ONNX export failed, registering torch weights only: {exc}", err=True, fg="yellow")

        def log_model(mlflow):
            mlflow.pyfunc.log_model(
                name="model",
                python_model=FoodDetectorModel(),
                artifacts={"detector": str(paths.detector), "backbone": str(paths.backbone), "config": str(config)},
                code_paths=["training"],
                signature=signature(),
                pip_requirements=["torch==2.13.0", "torchvision==0.28.0", "ultralytics==8.4.190", "pillow", "pandas", "numpy"],
            )
            if onnx_path is not None:
                mlflow.log_artifact(str(onnx_path), artifact_path="onnx")
            mlflow.log_artifacts(str(paths.detector_reports), artifact_path="reports")

        result = register_with_gate(
            model_name=cfg.model_name,
            log_model=log_model,
            params={"profile": train.profile, **train.active.model_dump(), "classifier_c_grid": str(train.classifier.c_grid)},
            metrics=flat_metrics(metrics),
            tags={"data_version": data_version(), "profile": train.profile},
            gate_metric=cfg.gate_metric,
            threshold=cfg.min_food_top1,
        )
    # The format serving should prefer when an ONNX export exists; benchmarks/detector_latency.py compares the two
    # (on the shared 2-core CPU the result was mixed: ONNX faster at 256 and 640 px, slower at 480).
    # Serving still runs the torch weights through the pyfunc.
    result["serving_format"] = "onnx" if onnx_path is not None else "torch"
    write_json(receipt, result)
    gate_state = "passed" if result["gate"]["passed"] else "failed"
    typer.echo(f"register_detector: {cfg.model_name} v{result['version']}, gate {gate_state} ({result['gate']['reason']}); champion v{result['champion_version']}")


if __name__ == "__main__":
    run(app)
