"""Stage register_portion: log the portion estimator CV prefers (frozen, or fine-tuned: compare_portion) to MLflow;
`champion` only if it clearly beats class-mean (on the val items for the frozen one, by CV over train+val for the
fine-tuned one, whose final fit saw the val items); test metrics are logged beside, never compared.

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
    """Register portion-estimator; the gate is a share of the class-mean baseline's error on the same data."""
    import json

    from training.atomic import write_json
    from training.files import COMPARISON_FILE, CV_FILE, METRICS_FILE, RECEIPT_FILE
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
    comparison = json.loads((paths.portion_reports / COMPARISON_FILE).read_text())
    chosen = comparison["chosen_by_cv"]
    for name, section in comparison["single_photo"].items():
        for split in ("cv", "test"):
            metrics[f"{split}_{name}_{cfg.gate_metric}"] = section[split]["photo"][cfg.gate_metric]
    if chosen == "frozen":
        folder, params_logged = paths.portion, params.train_portion.model_dump()
        gate_metric = f"{GATE_SPLIT}_model_{cfg.gate_metric}"
        baseline = metrics[f"{GATE_SPLIT}_class_mean_{cfg.gate_metric}"]
    else:  # the fine-tuned model trained on the val items too: its gate is its CV, against class-mean's CV
        folder, params_logged = paths.portion_tuned, params.finetune_portion.model_dump()
        gate_metric = f"cv_fine_tuned_{cfg.gate_metric}"
        baseline = json.loads((paths.portion / CV_FILE).read_text())["class_mean"][f"{cfg.gate_metric}_mean"]
    threshold = baseline * (1 - cfg.min_gain_over_class_mean)

    def log_model(mlflow):
        log_portion(folder)
        log_reports(mlflow, paths.portion_reports, receipt)

    result = register_with_gate(
        model_name=cfg.model_name,
        log_model=log_model,
        params=params_logged,
        metrics=metrics,
        tags={"portion_model": chosen},
        data_version=scored_on,
        gate_metric=gate_metric,
        threshold=threshold,
        higher_is_better=False,
        fingerprint=artifact_fingerprint(folder, extra={"python_model": class_path(PortionModel)}),
    )
    write_json(receipt, result)
    typer.echo("register_portion: " + receipt_line(result))


if __name__ == "__main__":
    run(app)
