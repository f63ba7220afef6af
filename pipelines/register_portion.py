"""Stage register_portion: log the portion estimator to MLflow; `champion` only if it clearly beats class-mean.

Runs on every `dvc repro` and registers nothing when the registry already holds these exact artifacts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    receipt: Annotated[
        Path | None, typer.Option(help="Receipt JSON (default: <portion reports>/registration.json).")
    ] = None,
) -> None:
    """Register portion-estimator; the gate is a share of the class-mean baseline's error."""
    from training.atomic import write_json
    from training.files import METRICS_FILE, RECEIPT_FILE
    from training.inference.pyfunc import PortionModel, class_path, log_portion
    from training.registry import artifact_fingerprint, data_version, log_reports, receipt_line, register_with_gate

    setup_logging()
    params = load_params()
    paths, cfg = params.paths, params.register_portion
    metrics = json.loads((paths.portion_reports / METRICS_FILE).read_text())
    receipt = receipt or paths.portion_reports / RECEIPT_FILE
    flat = {f"{model}_{k}": float(v) for model, values in metrics["test"].items() for k, v in values.items()}
    flat[cfg.gate_metric] = flat[f"model_{cfg.gate_metric}"]
    threshold = flat[f"class_mean_{cfg.gate_metric}"] * (1 - cfg.min_gain_over_class_mean)

    def log_model(mlflow):
        log_portion(paths.portion)
        log_reports(mlflow, paths.portion_reports, receipt)

    result = register_with_gate(
        model_name=cfg.model_name,
        log_model=log_model,
        params=params.train_portion.model_dump(),
        metrics=flat,
        tags={"data_version": data_version()},
        gate_metric=cfg.gate_metric,
        threshold=threshold,
        higher_is_better=False,
        fingerprint=artifact_fingerprint(paths.portion, extra={"python_model": class_path(PortionModel)}),
    )
    write_json(receipt, result)
    typer.echo("register_portion: " + receipt_line(result))


if __name__ == "__main__":
    run(app)
