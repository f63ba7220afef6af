"""Where the served thresholds come from: tune_serving's choice on the validation photos, shipped inside the
registered food-detector, with PLATE_SERVING_* variables overriding it one by one."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from training.inference.plate import (
    THRESHOLDS_KEY,
    PlateModels,
    Thresholds,
    registered_thresholds,
    served_thresholds,
)

CHOSEN = Thresholds(food=0.25, coin=0.05, overlap_iou=0.5)
ENV = ("PLATE_SERVING_FOOD_THRESHOLD", "PLATE_SERVING_COIN_THRESHOLD", "PLATE_SERVING_OVERLAP_IOU")


class FakePyfunc:
    """What `mlflow.pyfunc.load_model` gives, as far as PlateModels.from_pyfuncs reads it."""

    def __init__(self, **model):
        self.model = SimpleNamespace(**model)

    def unwrap_python_model(self):
        return self.model


def test_the_detectors_registered_config_sets_the_thresholds():
    detector = FakePyfunc(detector="detector", config={"imgsz": 256, THRESHOLDS_KEY: CHOSEN.to_dict()})
    portion = FakePyfunc(estimator="estimator")
    assert PlateModels.from_pyfuncs(detector, portion).thresholds == CHOSEN
    assert PlateModels.from_pyfuncs(detector, portion, Thresholds()).thresholds == Thresholds()  # asked for
    older = FakePyfunc(detector="detector", config={"imgsz": 256})  # registered before tune_serving existed
    assert registered_thresholds(older.unwrap_python_model()) == Thresholds()


def test_thresholds_round_trip_and_refuse_unknown_names():
    assert Thresholds.from_dict(CHOSEN.to_dict()) == CHOSEN
    assert Thresholds.from_dict({"food": 0.2}) == Thresholds(food=0.2)
    with pytest.raises(ValueError, match="unknown thresholds"):
        Thresholds.from_dict({"food_threshold": 0.2})


def test_served_thresholds_read_tune_servings_choice(tmp_path):
    chosen = tmp_path / "thresholds.json"
    chosen.write_text(json.dumps({THRESHOLDS_KEY: CHOSEN.to_dict(), "chosen_on": "val"}))
    assert served_thresholds(chosen) == CHOSEN
    assert served_thresholds() == Thresholds()
    with pytest.raises(FileNotFoundError, match="tune_serving"):
        served_thresholds(tmp_path / "missing.json")


def test_serving_env_overrides_the_registered_thresholds_one_by_one(monkeypatch):
    from serving.service import ServingSettings

    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    assert ServingSettings().thresholds(CHOSEN) == CHOSEN
    monkeypatch.setenv("PLATE_SERVING_FOOD_THRESHOLD", "0.0")
    assert ServingSettings().thresholds(CHOSEN) == Thresholds(food=0.0, coin=0.05, overlap_iou=0.5)
    monkeypatch.setenv("PLATE_SERVING_OVERLAP_IOU", "0.7")
    assert ServingSettings().thresholds(CHOSEN) == Thresholds(food=0.0, coin=0.05, overlap_iou=0.7)
