"""Stage register_detector: log the detector to MLflow (plus an ONNX export of the localiser beside it), and move
`champion` only through the gate: val food top-1 above its floor and, like every guard metric (params
`register_detector.guards`: crop top-1, the open-set val figures), not worse than the champion's. The receipt says
what serving runs: the torch weights, through the pyfunc.

Runs on every `dvc repro` and registers nothing when the registry already holds these exact artifacts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)

# guard metrics where lower is better (params register_detector.guards); every other one: higher is better
LOWER_IS_BETTER = frozenset({"openset_val_known_rejected", "openset_val_known_wrongly_rejected"})


@app.command()
def main(
    receipt: Annotated[
        Path | None, typer.Option(help="Receipt JSON (default: <detector reports>/registration.json).")
    ] = None,
) -> None:
    """Register food-detector; the receipt says which version is champion, what serving runs and whether ONNX was
    exported."""
    from training.atomic import write_json
    from training.files import METRICS_FILE, RECEIPT_FILE, THRESHOLDS_FILE
    from training.inference.localiser import WEIGHTS_FILE
    from training.inference.plate import THRESHOLDS_KEY, served_thresholds
    from training.inference.pyfunc import FoodDetectorModel, class_path, log_detector
    from training.inference.yolo_env import load_ultralytics
    from training.lineage import artifact_fingerprint
    from training.registry import (
        GATE_SPLIT,
        log_reports,
        mlflow_client,
        read_metrics,
        receipt_line,
        register_with_gate,
    )

    setup_logging()
    params = load_params()
    paths, cfg, train = params.paths, params.register_detector, params.train_detector
    metrics, scored_on = read_metrics(paths.detector_reports / METRICS_FILE)  # val_* decide, test_* are reported
    # the open-set figures of evaluate_openset (its folds train on the labelled examples too), val only, as openset_val_*
    openset, _ = read_metrics(paths.openset_reports / METRICS_FILE)
    metrics.update({f"openset_{k}": v for k, v in openset.items() if k.startswith(f"{GATE_SPLIT}_")})
    receipt = receipt or paths.detector_reports / RECEIPT_FILE

    served_config = {
        "imgsz": train.active.imgsz,
        "conf": cfg.conf,
        "pad_fraction": params.extract_features.pad_fraction,
        # chosen on the val photos by tune_serving; serving applies them unless PLATE_SERVING_* say otherwise
        THRESHOLDS_KEY: served_thresholds(paths.serving / THRESHOLDS_FILE).to_dict(),
    }
    fingerprint = artifact_fingerprint(
        paths.detector,
        paths.backbone,
        paths.namer,
        extra={**served_config, "python_model": class_path(FoodDetectorModel)},
    )
    exported_onnx: list[bool] = []

    with tempfile.TemporaryDirectory() as tmp:

        def log_model(mlflow):
            log_detector(paths.detector, paths.backbone, served_config, paths.namer)
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
            metrics=metrics,
            tags={"profile": train.profile},
            data_version=scored_on,
            gate_metric=f"{GATE_SPLIT}_{cfg.gate_metric}",
            threshold=cfg.min_food_top1,
            fingerprint=fingerprint,
            guards={name: name not in LOWER_IS_BETTER for name in cfg.guards},
        )
        if result["reused"]:
            run_artifacts = mlflow_client().list_artifacts(result["run_id"], "onnx")
            exported_onnx.append(bool(run_artifacts))
    # What serving runs: BentoML loads the registered pyfunc, and PlateModels.from_pyfuncs unwraps its FoodDetector,
    # whose Localiser loads localiser.pt (serving/service.py, training/inference/plate.py): torch, always. The ONNX
    # export is an extra artifact of the run (onnx/localiser.onnx), served by nothing; benchmarks/detector_latency.py
    # compares the two (on the shared 2-core CPU the result was mixed: ONNX faster at 256 and 640 px, slower at 480).
    result["serving_format"] = "torch"
    result["onnx_exported"] = any(exported_onnx)
    write_json(receipt, result)
    typer.echo("register_detector: " + receipt_line(result))


if __name__ == "__main__":
    run(app)
