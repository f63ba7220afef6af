"""The registration gate against a real MLflow registry (SQLite store in a temporary folder)."""

import json

import pytest

from training.model_names import CHAMPION
from training.registry import DATA_VERSION_TAG, gate, read_metrics, register_with_gate


def test_gate_rules():
    assert gate(0.9, 0.8, None).passed
    assert gate(0.9, 0.8, 0.85).passed
    assert gate(0.85, 0.8, 0.85).passed  # a tie is "not worse": the newer model takes over
    assert gate(0.8, 0.8, None).passed  # the threshold itself clears
    assert not gate(0.7, 0.8, None).passed
    worse = gate(0.82, 0.8, 0.85)
    assert not worse.passed and "worse than the champion" in worse.reason
    assert gate(0.10, 0.2, 0.12, higher_is_better=False).passed  # errors: lower wins
    assert not gate(0.15, 0.2, 0.12, higher_is_better=False).passed
    other = gate(0.82, 0.8, None, not_compared="champion v1 scored on other data")  # the threshold alone decides
    assert other.passed and other.reason.endswith("(champion v1 scored on other data: not compared)")
    assert not gate(0.7, 0.8, None, not_compared="champion v1 scored on other data").passed


def test_read_metrics_logs_every_split_under_its_name_and_refuses_a_file_without_val(tmp_path):
    path = tmp_path / "metrics.json"
    split = {"food_top1": 0.9, "per_class": {"apple": {"ap50": 1.0}}, "ci": [0.8, 0.95], "rule": "text"}
    path.write_text(json.dumps({"n_test_items": 26, "data_version": "d1", "val": split, "test": split}))
    flat, scored_on = read_metrics(path)
    assert scored_on == "d1"
    assert flat == {
        "n_test_items": 26.0,
        "val_food_top1": 0.9,
        "val_per_class_apple_ap50": 1.0,
        "test_food_top1": 0.9,
        "test_per_class_apple_ap50": 1.0,
    }
    path.write_text(json.dumps({"test": split}))
    with pytest.raises(LookupError, match=r"no 'val' section.*re-run"):
        read_metrics(path)


def dummy_logger(value):
    def log_model(mlflow):
        import mlflow.pyfunc

        class Constant(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return [value] * len(model_input)

        mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=["mlflow"])

    return log_model


@pytest.mark.slow
def test_worse_candidate_does_not_take_champion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    common = dict(model_name="toy", params={"p": 1}, tags={}, gate_metric="top1", threshold=0.5, data_version="d1")
    first = register_with_gate(log_model=dummy_logger(1), metrics={"top1": 0.8}, **common)
    assert first["gate"]["passed"] and first["champion_version"] == "1"
    worse = register_with_gate(log_model=dummy_logger(2), metrics={"top1": 0.7}, **common)
    assert not worse["gate"]["passed"] and worse["champion_version"] == "1"
    assert worse["version"] == "2" and "worse than the champion" in worse["gate"]["reason"]  # kept, not promoted
    below = register_with_gate(log_model=dummy_logger(3), metrics={"top1": 0.4}, **common)
    assert not below["gate"]["passed"] and below["champion_version"] == "1"
    better = register_with_gate(log_model=dummy_logger(4), metrics={"top1": 0.9}, **common)
    assert better["gate"]["passed"] and better["champion_version"] == "4"

    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/toy@{CHAMPION}")
    assert list(model.predict([[0], [0]])) == [4, 4]

    # What `mlflow ui` shows: every candidate's run with its metric, and every version in the registry.
    client = mlflow.MlflowClient()
    runs = mlflow.search_runs(experiment_names=["plate-coach"], output_format="list")
    assert sorted(r.data.metrics["top1"] for r in runs) == [0.4, 0.7, 0.8, 0.9]
    assert sorted(int(v.version) for v in client.search_model_versions("name='toy'")) == [1, 2, 3, 4]
    assert client.get_model_version_by_alias("toy", CHAMPION).run_id == better["run_id"]
    assert client.get_run(better["run_id"]).data.tags[DATA_VERSION_TAG] == "d1"


@pytest.mark.slow
def test_a_champion_scored_on_other_data_is_not_compared(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    common = dict(model_name="toy", params={}, tags={}, gate_metric="val_top1", threshold=0.5)
    old = register_with_gate(log_model=dummy_logger(1), metrics={"val_top1": 0.9}, data_version="d1", **common)
    # On new data the candidate scores lower than the champion did on the old: not comparable, the threshold decides.
    new = register_with_gate(log_model=dummy_logger(2), metrics={"val_top1": 0.7}, data_version="d2", **common)
    assert new["gate"]["passed"] and new["champion_version"] == "2" and old["champion_version"] == "1"
    assert "champion v1 scored on other data: not compared" in new["gate"]["reason"]
    assert new["gate"]["not_compared"] and new["gate"]["champion"] is None and new["data_version"] == "d2"
    # Like with like again: the same data version is compared.
    worse = register_with_gate(log_model=dummy_logger(3), metrics={"val_top1": 0.6}, data_version="d2", **common)
    assert not worse["gate"]["passed"] and "worse than the champion's 0.7000" in worse["gate"]["reason"]
    # A champion without the gate metric (gated on test before) is not compared either.
    legacy = dict(common, model_name="legacy", gate_metric="top1")
    register_with_gate(log_model=dummy_logger(4), metrics={"top1": 0.9}, data_version="d2", **legacy)
    candidate = register_with_gate(
        log_model=dummy_logger(5), metrics={"val_top1": 0.6}, data_version="d2", **dict(legacy, gate_metric="val_top1")
    )
    assert candidate["gate"]["passed"] and "has no val_top1: not compared" in candidate["gate"]["reason"]
    # Unknown data on either side: nothing to compare.
    unknown = register_with_gate(
        log_model=dummy_logger(6), metrics={"val_top1": 0.55}, data_version="unknown", **common
    )
    assert unknown["gate"]["passed"] and "unknown: not compared" in unknown["gate"]["reason"]


@pytest.mark.slow
def test_a_reused_version_gets_the_metrics_its_run_lacks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    common = dict(model_name="toy", params={}, tags={}, threshold=0.5, fingerprint="a" * 64)
    first = register_with_gate(log_model=dummy_logger(1), metrics={"top1": 0.8}, gate_metric="top1", **common)
    again = register_with_gate(
        log_model=dummy_logger(1),
        metrics={"top1": 0.1, "val_top1": 0.9},
        gate_metric="val_top1",
        data_version="d1",
        **common,
    )
    assert again["reused"] and again["run_id"] == first["run_id"]
    import mlflow

    run = mlflow.MlflowClient().get_run(first["run_id"])
    assert run.data.metrics == {"top1": 0.8, "val_top1": 0.9}  # added, never overwritten
    assert run.data.tags[DATA_VERSION_TAG] == "d1"


@pytest.mark.slow
def test_missing_gate_metric_is_refused_before_anything_is_logged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(KeyError, match="top1"):
        register_with_gate(
            model_name="toy",
            log_model=dummy_logger(1),
            params={},
            metrics={"map50": 0.9},
            tags={},
            gate_metric="top1",
            threshold=0.5,
        )
    import mlflow

    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


def test_artifact_fingerprint_follows_content_not_mtime(tmp_path):
    import os

    from training.lineage import artifact_fingerprint

    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"\x00\x01")
    (model / "sub" / "head.json").write_text("{}")
    first = artifact_fingerprint(model, extra={"conf": 0.01})
    os.utime(model / "weights.bin", (1, 1))
    assert artifact_fingerprint(model, extra={"conf": 0.01}) == first
    assert artifact_fingerprint(model, extra={"conf": 0.02}) != first
    (model / "weights.bin").write_bytes(b"\x00\x02")
    assert artifact_fingerprint(model, extra={"conf": 0.01}) != first
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        artifact_fingerprint(tmp_path / "missing")


@pytest.mark.slow
def test_same_artifacts_register_once_and_a_lost_champion_comes_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    common = dict(model_name="toy", params={"p": 1}, tags={}, gate_metric="top1", threshold=0.5)
    calls = []

    def logger(value):
        def log_model(mlflow):
            calls.append(value)
            dummy_logger(value)(mlflow)

        return log_model

    first = register_with_gate(log_model=logger(1), metrics={"top1": 0.8}, fingerprint="a" * 64, **common)
    again = register_with_gate(log_model=logger(1), metrics={"top1": 0.8}, fingerprint="a" * 64, **common)
    assert calls == [1] and not first["reused"] and again["reused"]
    assert (
        again["version"] == first["version"] == again["champion_version"] == "1" and again["run_id"] == first["run_id"]
    )

    other = register_with_gate(log_model=logger(2), metrics={"top1": 0.9}, fingerprint="b" * 64, **common)
    assert calls == [1, 2] and other["version"] == "2" and other["champion_version"] == "2"

    import mlflow

    client = mlflow.MlflowClient()
    client.delete_registered_model_alias("toy", CHAMPION)  # someone removed it by hand
    back = register_with_gate(log_model=logger(2), metrics={"top1": 0.9}, fingerprint="b" * 64, **common)
    assert calls == [1, 2] and back["reused"] and back["champion_version"] == "2"
    assert len(mlflow.search_runs(experiment_names=["plate-coach"], output_format="list")) == 2


@pytest.mark.slow
def test_a_candidate_that_lowers_a_guard_metric_does_not_take_champion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    guards = {"val_crop_top1": True, "openset_val_unknown_ok": True, "openset_val_known_rejected": False}
    common = dict(
        model_name="toy", params={}, tags={}, gate_metric="val_top1", threshold=0.5, data_version="d1", guards=guards
    )
    base = {"val_top1": 0.8, "val_crop_top1": 0.95, "openset_val_unknown_ok": 0.55, "openset_val_known_rejected": 0.02}
    first = register_with_gate(log_model=dummy_logger(1), metrics=base, **common)
    assert first["gate"]["passed"] and first["champion_version"] == "1"
    # better end to end, but it names fewer unknown foods right or unknown: refused
    swallowing = {**base, "val_top1": 0.85, "openset_val_unknown_ok": 0.40}
    refused = register_with_gate(log_model=dummy_logger(2), metrics=swallowing, **common)
    assert not refused["gate"]["passed"] and refused["champion_version"] == "1"
    assert "openset_val_unknown_ok 0.4000 is worse than the champion's 0.5500" in refused["gate"]["reason"]
    rejecting = {**base, "openset_val_known_rejected": 0.05}  # lower is better for this one
    assert not register_with_gate(log_model=dummy_logger(3), metrics=rejecting, **common)["gate"]["passed"]
    crop = {**base, "val_crop_top1": 0.90}
    assert not register_with_gate(log_model=dummy_logger(4), metrics=crop, **common)["gate"]["passed"]
    even = register_with_gate(log_model=dummy_logger(5), metrics={**base, "val_top1": 0.81}, **common)
    assert even["gate"]["passed"] and even["champion_version"] == "5"  # every guard kept: it takes over
    with pytest.raises(KeyError, match="openset_val_unknown_ok"):
        register_with_gate(log_model=dummy_logger(6), metrics={"val_top1": 0.9, "val_crop_top1": 1.0}, **common)
