"""The registration gate against a real MLflow registry (SQLite store in a temporary folder)."""

import pytest

from training.registry import CHAMPION, gate, register_with_gate


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
    common = dict(model_name="toy", params={"p": 1}, tags={}, gate_metric="top1", threshold=0.5)
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

    from training.registry import artifact_fingerprint

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
