"""Stage register_detector: log the detector to MLflow, export ONNX, and move `champion` only through the gate.

Runs on every `dvc repro` and registers nothing when the registry already holds these exact artifacts.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

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
    receipt: Annotated[
        Path | None, typer.Option(help="Receipt JSON (default: <detector reports>/registration.json).")
    ] = None,
) -> None:
    """Register food-detector; the receipt says which version is champion and which format to serve."""
    from training.atomic import write_json
    from training.files import METRICS_FILE, RECEIPT_FILE
    from training.inference.localiser import WEIGHTS_FILE
    from training.inference.pyfunc import FoodDetectorModel, class_path, log_detector
    from training.inference.yolo_env import load_ultralytics
    from training.registry import (
        artifact_fingerprint,
        data_version,
        log_reports,
        mlflow_client,
        receipt_line,
        register_with_gate,
    )

    setup_logging()
    params = load_params()
    paths, cfg, train = params.paths, params.register_detector, params.train_detector
    metrics = json.loads((paths.detector_reports / METRICS_FILE).read_text())
    receipt = receipt or paths.detector_reports / RECEIPT_FILE

    served_config = {
        "imgsz": train.active.imgsz,
        "conf": cfg.conf,
        "pad_fraction": params.extract_features.pad_fraction,
    }
    fingerprint = artifact_fingerprint(
        paths.detector, paths.backbone, extra={**served_config, "python_model": class_path(FoodDetectorModel)}
    )
    exported_onnx: list[bool] = []

    with tempfile.TemporaryDirectory() as tmp:

        def log_model(mlflow):
            log_detector(paths.detector, paths.backbone, served_config)
            try:
                exported = (
                    load_ultralytics()
                    .YOLO(str(paths.detector / WEIGHTS_FILE))
                    .export(format="onnx", imgsz=train.active.imgsz, dynamic=False)
                )
                onnx_path = Path(tmp) / "localiser.onnx"
                Path(exported).replace(onnx_path)
                mlflow.log_artifact(str(onnx_path), artifact_path="onnx")
                exported_onnx.append(True)
            except Exception as exc:
                typer.secho(f"ONNX export failed, registering torch weights only: {exc}", err=True, fg="yellow")
            log_reports(mlflow, paths.detector_reports, receipt)

        result = register_with_gate(
            model_name=cfg.model_name,
            log_model=log_model,
            params={
                "profile": train.profile,
                **train.active.model_dump(),
                "classifier_c_grid": str(train.classifier.c_grid),
            },
            metrics=flat_metrics(metrics),
            tags={"data_version": data_version(), "profile": train.profile},
            gate_metric=cfg.gate_metric,
            threshold=cfg.min_food_top1,
            fingerprint=fingerprint,
        )
        if result["reused"]:
            run_artifacts = mlflow_client().list_artifacts(result["run_id"], "onnx")
            exported_onnx.append(bool(run_artifacts))
    # The format serving should prefer when an ONNX export exists; benchmarks/detector_latency.py compares the two
    # (on the shared 2-core CPU the result was mixed: ONNX faster at 256 and 640 px, slower at 480).
    # Serving still runs the torch weights through the pyfunc.
    result["serving_format"] = "onnx" if any(exported_onnx) else "torch"
    write_json(receipt, result)
    typer.echo("register_detector: " + receipt_line(result))


if __name__ == "__main__":
    run(app)
