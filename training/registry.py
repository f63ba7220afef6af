"""MLflow tracking and registry: log a run, register a model version, move `champion` only through a gate.

The registry is state outside the repository (a SQLite file here, a tracking server in a team), so DVC
cannot track it. Registration is therefore idempotent and keyed by the content of what is registered
(`artifact_fingerprint`): the register stages run on every `dvc repro` (`always_changed`), find the
version already holding these exact artifacts and register nothing, or register them when the registry
lacks them (a fresh clone, a deleted `mlflow.db`, a new tracking server).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
CHAMPION = "champion"  # the alias serving imports
DETECTOR_MODEL = "food-detector"  # the registered models, by the names serving imports them under
PORTION_MODEL = "portion-estimator"
FINGERPRINT_TAG = "artifact_sha256"


def tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI (a server), else a SQLite store in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


def configure_mlflow():
    """Import mlflow with telemetry off and the tracking and registry URIs set; returns the module."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    # The registry lives with the runs, as serving.import_models reads it: never a registry (or $MLFLOW_REGISTRY_URI,
    # which mlflow.set_registry_uri writes) that an earlier caller in this process chose.
    mlflow.set_registry_uri(uri)
    return mlflow


def mlflow_client():
    """An MlflowClient on `tracking_uri()`."""
    return configure_mlflow().MlflowClient()


def receipt_line(receipt: dict) -> str:
    """One line for people: which version, new or already there, the gate, the champion."""
    state = "already registered" if receipt["reused"] else "registered"
    gate_state = "passed" if receipt["gate"]["passed"] else "failed"
    return (
        f"{receipt['model_name']} v{receipt['version']} {state}, gate {gate_state} ({receipt['gate']['reason']}); "
        f"champion v{receipt['champion_version']} in {receipt['tracking_uri']}"
    )


def data_version(lock_file: Path = Path("dvc.lock"), stage: str = "prepare") -> str:
    """The md5 of `stage`'s outputs in dvc.lock: which data a model was trained on ('unknown' before any repro)."""
    if not lock_file.is_file():
        return "unknown"
    outs = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {}).get(stage, {}).get("outs", [])
    return ",".join(f"{o['path']}:{o.get('md5', '?')}" for o in outs) or "unknown"


def artifact_fingerprint(*paths: Path | str, extra: dict | None = None) -> str:
    """sha256 over the files under `paths` (relative names and bytes, in sorted order) and `extra` as JSON.

    The same artifacts give the same fingerprint on any machine and any checkout, whatever their mtimes.
    """
    digest = hashlib.sha256()
    for root in map(Path, paths):
        if not root.exists():
            raise FileNotFoundError(f"cannot fingerprint {root}: it does not exist (run `dvc repro`)")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            digest.update(f"{root.name}/{path.relative_to(root) if path != root else ''}\0".encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
    digest.update(json.dumps(extra or {}, sort_keys=True).encode())
    return digest.hexdigest()


def find_version(client, model_name: str, fingerprint: str):
    """The newest registered version of `model_name` whose artifacts have this fingerprint, else None."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name='{model_name}'")
    except MlflowException:
        return None
    matches = [v for v in versions if (v.tags or {}).get(FINGERPRINT_TAG) == fingerprint]
    return max(matches, key=lambda v: int(v.version), default=None)


def log_reports(mlflow, reports: Path, receipt: Path) -> None:
    """Log the stage's report files (metrics, plots) with the run, all but the registration receipt."""
    for report in sorted(reports.glob("*")):
        if report.is_file() and report != receipt:
            mlflow.log_artifact(str(report), artifact_path="reports")


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
        reason = f"{candidate:.4f} clears {threshold:.4f}" + (
            f" and the champion's {champion:.4f}" if champion is not None else " (no champion yet)"
        )
        return GateResult(True, reason, candidate, threshold, champion)
    return GateResult(False, reason, candidate, threshold, champion)


def current_champion(client, model_name: str):
    """The version behind `model_name@champion`, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


def champion_metric(client, model_name: str, metric: str) -> float | None:
    """The gate metric of the current champion's run, or None when there is no champion."""
    version = current_champion(client, model_name)
    if version is None:
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
    fingerprint: str | None = None,
) -> dict:
    """Register the model unless the registry already holds it, and give it `champion` only if the gate passes.

    Args:
        log_model: called inside a new run as `log_model(mlflow)`; must log the model under name "model".
            Not called when a version with the same `fingerprint` exists.
        metrics: flat name → value; `gate_metric` must be among them.
        fingerprint: content hash of what `log_model` logs (`artifact_fingerprint`); a version tagged with
            it is reused instead of registering a duplicate. None: always register a new version.

    Returns:
        A receipt: run id, version, whether it was reused, gate decision, the champion afterwards, tracking URI.
    """
    mlflow = configure_mlflow()
    client = mlflow.MlflowClient()
    if gate_metric not in metrics:
        raise KeyError(f"gate metric {gate_metric!r} not among the logged metrics {sorted(metrics)}")
    existing = find_version(client, model_name, fingerprint) if fingerprint else None
    champion_before = current_champion(client, model_name)
    if existing is not None and champion_before is not None and champion_before.version == existing.version:
        previous = None  # it is the champion already: only the threshold applies
    else:
        previous = champion_metric(client, model_name, gate_metric)
    if existing is None:
        mlflow.set_experiment(experiment)
        run_tags = {**tags, FINGERPRINT_TAG: fingerprint} if fingerprint else tags
        with mlflow.start_run(run_name=model_name) as run:
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.set_tags(run_tags)
            log_model(mlflow)
        version = mlflow.register_model(
            f"runs:/{run.info.run_id}/model", model_name, tags={FINGERPRINT_TAG: fingerprint} if fingerprint else None
        )
        run_id = run.info.run_id
    else:
        version, run_id = existing, existing.run_id
    decision = gate(metrics[gate_metric], threshold, previous, higher_is_better)
    if decision.passed:
        client.set_registered_model_alias(model_name, CHAMPION, version.version)
    after = current_champion(client, model_name)
    champion = str(after.version) if after is not None else None
    log.info(
        "%s v%s (%s): gate %s (%s); champion is v%s",
        model_name,
        version.version,
        "already registered" if existing is not None else "new",
        "passed" if decision.passed else "failed",
        decision.reason,
        champion,
    )
    return {
        "model_name": model_name,
        "version": str(version.version),
        "reused": existing is not None,
        "run_id": run_id,
        "fingerprint": fingerprint,
        "gate": {"metric": gate_metric, **asdict(decision)},
        "champion_version": champion,
        "tracking_uri": tracking_uri(),
    }
