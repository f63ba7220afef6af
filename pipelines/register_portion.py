"""Stage register_portion: log the portion estimator to MLflow; `champion` only if it clearly beats class-mean
on the validation items (test metrics are logged beside, never compared).

Runs on every `dvc repro` and registers nothing when the registry already holds these exact artifacts.
"""

from __future__ import annotations

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
    """Register portion-estimator; the gate is a share of the class-mean baseline's error, both on val items."""
    from training.atomic import write_json
    from training.files import METRICS_FILE, RECEIPT_FILE
    from training.inference.pyfunc import PortionModel, class_path, log_portion
    from training.lineage import artifact_fingerprint
    from training.registry import (
        GATE_SPLIT,
        log_reports,
        read_metrics,
        receipt_line,
        register_with_gate,
    )

    setup_logging()
    params = load_params()
    paths, cfg = params.paths, params.register_portion
    metrics, scored_on = read_metrics(paths.portion_reports / METRICS_FILE)  # val_* decide, test_* are reported
    receipt = receipt or paths.portion_reports / RECEIPT_FILE
    gate_metric = f"{GATE_SPLIT}_model_{cfg.gate_metric}"
    threshold = metrics[f"{GATE_SPLIT}_class_mean_{cfg.gate_metric}"] * (1 - cfg.min_gain_over_class_mean)

    def log_model(mlflow):
        log_portion(paths.portion)
        log_reports(mlflow, paths.portion_reports, receipt)

    result = register_with_gate(
        model_name=cfg.model_name,
        log_model=log_model,
        params=params.train_portion.model_dump(),
        metrics=metrics,
        tags={},
        data_version=scored_on,
        gate_metric=gate_metric,
        threshold=threshold,
        higher_is_better=False,
        fingerprint=artifact_fingerprint(paths.portion, extra={"python_model": class_path(PortionModel)}),
    )
    write_json(receipt, result)
    typer.echo("register_portion: " + receipt_line(result))


if __name__ == "__main__":
    run(app)
