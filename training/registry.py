"""MLflow tracking and registry: log a run, register a model version, move `champion` only through a gate.

The registry is state outside the repository (a SQLite file here, a tracking server in a team), so DVC
cannot track it. Registration is therefore idempotent and keyed by the content of what is registered
(`artifact_fingerprint`): the register stages run on every `dvc repro` (`always_changed`), find the
version already holding these exact artifacts and register nothing, or register them when the registry
lacks them (a fresh clone, a deleted `mlflow.db`, a new tracking server).

Choosing is done on validation only: the gate reads the `val` section of a stage's metrics (`GATE_SPLIT`), logged
as `val_*`; the `test` section is logged as `test_*` and reported, never compared. A candidate is compared with the
champion only when the champion's run was scored on the same data version and logged the same gate metric;
otherwise the threshold alone decides (see `register_with_gate`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from training.lineage import data_version
from training.model_names import CHAMPION

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
FINGERPRINT_TAG = "artifact_sha256"
DATA_VERSION_TAG = "data_version"  # the run tag: which data the run's metrics were computed on
GATE_SPLIT = "val"  # the metrics section every gate reads; "test" is only logged and reported
REPORTED_SPLIT = "test"


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


def split_metrics(metrics: dict, split: str, source: Path | str) -> dict:
    """`metrics[split]`, or a LookupError that says which file lacks it and what to run."""
    section = metrics.get(split)
    if not isinstance(section, dict):
        raise LookupError(
            f"{source} has no {split!r} section (it has {sorted(metrics)}): the gate chooses on validation metrics "
            f"only, so the evaluate stage must score the {split} split too; re-run it (`dvc repro`)"
        )
    return section


def flat_metrics(section: dict, prefix: str) -> dict[str, float]:
    """A nested section of numbers as flat MLflow metrics: {"a": {"b": 1}} → {"<prefix>_a_b": 1.0}.

    Strings, lists and booleans (rules, notes, intervals) are left out.
    """
    flat = {}
    for key, value in section.items():
        name = f"{prefix}_{key}"
        if isinstance(value, dict):
            flat.update(flat_metrics(value, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def read_metrics(path: Path) -> tuple[dict[str, float], str]:
    """An evaluate stage's metrics.json as the flat metrics a register stage logs, and the data version they were
    computed on (the file's `data_version`, else `data_version()` of dvc.lock now).

    Every section is logged under its own name: `val_*` (what the gate reads), `test_*` (reported only), `cv_*`...

    Raises:
        LookupError: the file has no `val` (or no `test`) section.
    """
    metrics = json.loads(Path(path).read_text())
    for split in (GATE_SPLIT, REPORTED_SPLIT):
        split_metrics(metrics, split, path)
    flat = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for name, section in metrics.items():
        if isinstance(section, dict):
            flat.update(flat_metrics(section, name))
    return flat, str(metrics.get("data_version") or data_version())


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
    not_compared: str | None = None  # why a champion's score was not compared (None: compared, or no champion)


def gate(
    candidate: float,
    threshold: float,
    champion: float | None,
    higher_is_better: bool = True,
    not_compared: str | None = None,
) -> GateResult:
    """Pass when the candidate clears the threshold and is not worse than the current champion.

    `champion` None with `not_compared` set: there is a champion, but its score is not comparable (other data,
    another metric); the threshold alone decides and the reason says so.
    """
    sign = 1 if higher_is_better else -1
    if sign * (candidate - threshold) < 0:
        reason = f"{candidate:.4f} misses the threshold {threshold:.4f}"
    elif champion is not None and sign * (candidate - champion) < 0:
        reason = f"{candidate:.4f} is worse than the champion's {champion:.4f}"
    else:
        if champion is not None:
            against = f" and the champion's {champion:.4f}"
        else:
            against = f" ({not_compared}: not compared)" if not_compared else " (no champion yet)"
        return GateResult(
            True, f"{candidate:.4f} clears {threshold:.4f}{against}", candidate, threshold, champion, not_compared
        )
    if not_compared:
        reason += f" ({not_compared}: not compared)"
    return GateResult(False, reason, candidate, threshold, champion, not_compared)


def guarded(decision: GateResult, client, champion, metrics: dict[str, float], guards: dict[str, bool], data_version):
    """`decision`, failed when a guard metric is worse than the champion's (scored on the same data version)."""
    for name, higher_is_better in guards.items():
        theirs, _ = champion_metric(client, champion, name, data_version)
        if theirs is not None and (1 if higher_is_better else -1) * (metrics[name] - theirs) < 0:
            reason = f"{name} {metrics[name]:.4f} is worse than the champion's {theirs:.4f}"
            return GateResult(False, reason, decision.candidate, decision.threshold, decision.champion)
    return decision


def current_champion(client, model_name: str):
    """The version behind `model_name@champion`, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


def known(data_version: str | None) -> bool:
    return bool(data_version) and data_version != "unknown"


def champion_metric(client, champion, metric: str, data_version: str | None) -> tuple[float | None, str | None]:
    """The champion's `metric`, only when its run was scored on `data_version`: (value, None), else (None, why not).

    Like with like only: a score on other data (another split, relabelled photos, more items) or under another
    metric name (the test-gated versions before validation gating) says nothing about which model is better.
    """
    run = client.get_run(champion.run_id)
    theirs = run.data.tags.get(DATA_VERSION_TAG)
    if not known(data_version) or not known(theirs):
        return None, f"champion v{champion.version}'s data version or this one is unknown"
    if theirs != data_version:
        return None, f"champion v{champion.version} scored on other data"
    if metric not in run.data.metrics:
        return None, f"champion v{champion.version} has no {metric}"
    return run.data.metrics[metric], None


def backfill_run(client, run_id: str, metrics: dict[str, float], data_version: str | None) -> None:
    """Add to an already registered run the metrics it lacks (never overwriting one), when it was scored on this data
    version or has none recorded: a version registered before validation gating then compares like with like."""
    from mlflow.entities import Metric

    run = client.get_run(run_id)
    theirs = run.data.tags.get(DATA_VERSION_TAG)
    if known(theirs) and theirs != data_version:
        return
    if known(data_version) and theirs != data_version:
        client.set_tag(run_id, DATA_VERSION_TAG, data_version)
    missing = {k: v for k, v in metrics.items() if k not in run.data.metrics}
    if missing:
        stamp = int(run.info.end_time or run.info.start_time or 0)
        client.log_batch(run_id, metrics=[Metric(k, v, stamp, 0) for k, v in sorted(missing.items())])


def register_with_gate(
    *,
    model_name: str,
    log_model,
    params: dict,
    metrics: dict[str, float],
    tags: dict[str, str],
    gate_metric: str,
    threshold: float,
    data_version: str | None = None,
    higher_is_better: bool = True,
    experiment: str = "plate-coach",
    fingerprint: str | None = None,
    guards: dict[str, bool] | None = None,
) -> dict:
    """Register the model unless the registry already holds it, and give it `champion` only if the gate passes.

    The gate: `metrics[gate_metric]` must clear `threshold`, and must not be worse than the champion's same metric
    when the champion's run carries the same `data_version` tag. A champion scored on other data (or without
    `gate_metric`) is not compared: the threshold alone decides, and the reason says "champion ... scored on other
    data: not compared". Refusing to displace it instead would freeze the champion at the first data version, since
    nothing re-scores it on new data; the threshold is the floor every champion must clear.

    Args:
        log_model: called inside a new run as `log_model(mlflow)`; must log the model under name "model".
            Not called when a version with the same `fingerprint` exists.
        metrics: flat name → value; `gate_metric` must be among them. Validation metrics decide (`val_*`);
            test metrics (`test_*`) are logged with them and never compared.
        data_version: which data `metrics` were computed on (`data_version()`), tagged on the run; None or
            "unknown": no champion is compared.
        fingerprint: content hash of what `log_model` logs (`artifact_fingerprint`); a version tagged with
            it is reused instead of registering a duplicate (its run gets the metrics it lacks, see
            `backfill_run`). None: always register a new version.
        guards: further metrics (name → higher is better) that must not be worse than the champion's either, each
            compared like `gate_metric` (same data version; a champion without it is not compared on it).

    Returns:
        A receipt: run id, version, whether it was reused, gate decision, the champion afterwards, tracking URI.
    """
    mlflow = configure_mlflow()
    client = mlflow.MlflowClient()
    guards = dict(guards or {})
    for name in (gate_metric, *guards):
        if name not in metrics:
            raise KeyError(f"gate metric {name!r} not among the logged metrics {sorted(metrics)}")
    existing = find_version(client, model_name, fingerprint) if fingerprint else None
    champion_before = current_champion(client, model_name)
    previous, not_compared = None, None
    if champion_before is None or (existing is not None and champion_before.version == existing.version):
        pass  # no champion, or it is the champion already: only the threshold applies
    else:
        previous, not_compared = champion_metric(client, champion_before, gate_metric, data_version)
    if existing is None:
        mlflow.set_experiment(experiment)
        run_tags = {**tags, FINGERPRINT_TAG: fingerprint} if fingerprint else dict(tags)
        if known(data_version):
            run_tags[DATA_VERSION_TAG] = data_version
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
        backfill_run(client, run_id, metrics, data_version)
    decision = gate(metrics[gate_metric], threshold, previous, higher_is_better, not_compared)
    if decision.passed and previous is not None:
        decision = guarded(decision, client, champion_before, metrics, guards, data_version)
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
        "data_version": data_version,
        "champion_version": champion,
        "tracking_uri": tracking_uri(),
    }
