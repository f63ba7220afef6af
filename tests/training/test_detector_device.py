"""train_detector.device: `auto` trains the localiser on a GPU when torch sees one and on the CPU otherwise."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from pydantic import ValidationError

from training.config import TrainDetectorParams
from training.detector.fit import resolve_device, train_localiser


@pytest.fixture
def gpu(monkeypatch):
    """`gpu(present)`: make torch report a GPU, or none."""

    def set_gpu(present: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: present)

    return set_gpu


@pytest.mark.parametrize(("asked", "resolved"), [("auto", "cuda:0"), ("cuda", "cuda:0"), ("cuda:1", "cuda:1")])
def test_a_gpu_is_used_when_present(gpu, asked, resolved):
    gpu(True)
    assert resolve_device(asked) == resolved


def test_cpu_stays_cpu_with_a_gpu_present(gpu):
    gpu(True)
    assert resolve_device("cpu") == "cpu"


def test_auto_falls_back_to_the_cpu(gpu):
    gpu(False)
    assert resolve_device("auto") == "cpu"


@pytest.mark.parametrize("asked", ["cuda", "cuda:0"])
def test_a_gpu_asked_for_and_absent_is_an_error(gpu, asked):
    gpu(False)
    with pytest.raises(ValueError, match="sees no GPU"):
        resolve_device(asked)


def test_an_unknown_device_is_an_error(gpu):
    gpu(True)
    with pytest.raises(ValueError, match="not auto, cpu"):
        resolve_device("tpu")


def _detector_params(**changes) -> dict:
    """params.yaml's train_detector section, with `changes`."""
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["train_detector"]
    return {**raw, **changes}


def test_params_default_to_auto_and_refuse_other_values():
    assert TrainDetectorParams.model_validate(_detector_params()).device == "auto"
    raw = _detector_params()
    del raw["device"]
    assert TrainDetectorParams.model_validate(raw).device == "auto"
    for good in ("cpu", "cuda", "cuda:3"):
        assert TrainDetectorParams.model_validate(_detector_params(device=good)).device == good
    for bad in ("gpu", "cuda:", "cuda:x", "0", "CPU"):
        with pytest.raises(ValidationError):
            TrainDetectorParams.model_validate(_detector_params(device=bad))


def test_the_device_reaches_ultralytics(tmp_path, monkeypatch):
    """train_localiser hands `device` to YOLO.train (a stand-in here: nothing trains)."""
    calls = []

    class FakeYOLO:
        def __init__(self, model):
            self.model = model

        def train(self, **kwargs):
            calls.append(kwargs)
            run = Path(kwargs["project"]) / kwargs["name"]
            (run / "weights").mkdir(parents=True)
            (run / "weights" / "best.pt").write_bytes(b"")
            (run / "results.csv").write_text("epoch\n1\n")

    import training.inference.yolo_env as yolo_env

    monkeypatch.setattr(yolo_env, "load_ultralytics", lambda: SimpleNamespace(YOLO=FakeYOLO))
    best, history = train_localiser(tmp_path / "data.yaml", tmp_path / "runs", {"model": "m.yaml"}, 0, "cuda:0")
    assert calls[0]["device"] == "cuda:0" and best.name == "best.pt" and history == [{"epoch": 1.0}]
    train_localiser(tmp_path / "data.yaml", tmp_path / "again", {"model": "m.yaml"}, 0)
    assert calls[1]["device"] == "cpu"  # the default: the tests' tiny models train on the CPU
