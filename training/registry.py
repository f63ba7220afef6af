"""MLflow tracking and registry: log a run, register a model version, move `champion` only through a gate."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
CHAMPION = "champion"


def tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI (a server), else a SQLite store in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


def configure_mlflow():
    """Import mlflow with telemetry off and the tracking URI set; returns the module."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    return mlflow


def data_version(lock_file: Path = Path("dvc.lock"), stage: str = "prepare") -> str:
    """The md5 of `stage`'s outputs in dvc.lock: which data a model was trained on ('unknown' before any repro)."""
    if not lock_file.is_file():
        return "unknown"
    outs = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {}).get(stage, {}).get("outs", [])
    return ",".join(f"{o['path']}:{o.get('md5', '?')}" for o in outs) or "unknown"


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str
    candidate: float
    threshold: float
    champion: float | None


def gate(candidate: float, threshold: float, champion: float | None, higher_is_better: bool = True) -> GateResult:
    """Pass when the candidate clears the threshold and is not worse than the current champion."""
    sign = 1 if higher_is_better else -1
    if sign * (candidate - threshold) < 0:
        reason = f"{candidate:.4f} misses the threshold {threshold:.4f}"
    elif champion is not None and sign * (candidate - champion) < 0:
        reason = f"{candidate:.4f} is worse than the champion's {champion:.4f}"
    else:
        reason = f"{candidate:.4f} clears {threshold:.4f}" + (f" and the champion's {champion:.4f}" if champion is not None else " (no champion yet)")
        return GateResult(True, reason, candidate, threshold, champion)
    return GateResult(False, reason, candidate, threshold, champion)


def champion_metric(client, model_name: str, metric: str) -> float | None:
    """The gate metric of the current champion's run, or None when there is no champion."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    return client.get_run(version.run_id).data.metrics.get(metric)


def register_with_gate(
    *,
    model_name: str,
    log_model,
    params: dict,
    metrics: dict[str, float],
    tags: dict[str, str],
    gate_metric: str,
    threshold: float,
    higher_is_better: bool = True,
    experiment: str = "plate-coach",
) -> dict:
    """Log a run, register its model as a new version, and give it `champion` only if the gate passes.

    Args:
        log_model: called inside the run as `log_model(mlflow)`; must log the model under name "model".
        metrics: flat name → value; `gate_metric` must be among them.

    Returns:
        A receipt: run id, version, gate decision, the champion version afterwards, tracking URI.
    """
    mlflow = configure_mlflow()
    client = mlflow.MlflowClient()
    if gate_metric not in metrics:
        raise KeyError(f"gate metric {gate_metric!r} not among the logged metrics {sorted(metrics)}")
    mlflow.set_experiment(experiment)
    previous = champion_metric(client, model_name, gate_metric)
    with mlflow.start_run(run_name=model_name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        log_model(mlflow)
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", model_name)
    decision = gate(metrics[gate_metric], threshold, previous, higher_is_better)
    if decision.passed:
        client.set_registered_model_alias(model_name, CHAMPION, version.version)
    champion = None
    try:
        champion = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        pass
    log.info("%s v%s: gate %s (%s); champion is v%s", model_name, version.version, "passed" if decision.passed else "failed", decision.reason, champion)
    return {
        "model_name": model_name,
        "version": str(version.version),
        "run_id": run.info.run_id,
        "gate": {"metric": gate_metric, **asdict(decision)},
        "champion_version": champion,
        "tracking_uri": tracking_uri(),
    }
