"""The fine-tuned portion path on tiny synthetic data: it overfits one batch, its CV keeps items whole, the saved
model runs its tuned blocks from pixels (and through the pyfunc), and two photos pair by item and shot."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from training.inference.boxes import Box
from training.inference.portion_features import Scale
from training.inference.tuned_portion import TUNED_FILE, GramsNetError, TunedPortionEstimator, grams_net
from training.portion import finetune
from training.portion.finetune import TuneConfig, TuneSettings, cross_validate, fit_tuned, predict_log
from training.portion.fit import grouped_folds
from training.portion.two_photo import PairStacker, pair_cv, pairs

SETTINGS = TuneSettings(epochs=40, batch_size=8, head_lr=0.01, weight_decay=0.0, hidden=16, dropout=0.0, seed=0)


def synthetic(n_items: int, seed: int = 0, shots: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Items of two foods, a top and a side photo per shot, and trunk activations that carry nothing."""
    rng = np.random.default_rng(seed)
    rows = []
    for item in range(n_items):
        label = ("apple", "bread")[item % 2]
        d = rng.uniform(4, 10)
        for shot in range(1, shots + 1):
            for view in ("S", "T"):
                rows.append(
                    {
                        "item_id": f"{label}{item:03d}",
                        "label": label,
                        "view": view,
                        "shot": shot,
                        "w_cm": d * rng.uniform(0.97, 1.03),
                        "h_cm": d * rng.uniform(0.97, 1.03),
                        "weight_g": (0.9 if label == "apple" else 0.6) * math.pi / 6 * d**3,
                    }
                )
    acts = rng.normal(size=(2, len(rows), 96, 14, 14)).astype(np.float16)
    return pd.DataFrame(rows), acts


@pytest.fixture(scope="module")
def backbone():
    from training.inference.backbone import build_mobilenet_v2

    return build_mobilenet_v2(None)  # random weights: nothing is downloaded, the tests check behaviour only


def test_it_overfits_one_batch(backbone):
    rows, acts = synthetic(4)
    model = fit_tuned(rows, acts[:1], TuneConfig(16, 1e-3), SETTINGS, backbone)
    ape = np.abs(np.exp(predict_log(model, rows, acts)) / rows["weight_g"] - 1)
    assert ape.mean() < 0.05, ape


def test_only_blocks_from_the_first_tuned_one_learn(backbone):
    net = grams_net(16, 26, 16, 0.0, backbone)
    learning = {name.split(".")[0] for name, p in net.named_parameters() if p.requires_grad}
    assert learning == {"tuned", "head"}
    assert len(net.tuned) == 2 and len(net.fixed) == 2
    with pytest.raises(GramsNetError, match="first tuned block 18"):
        grams_net(18, 26, 16, 0.0, backbone)


def test_cv_trains_on_whole_items_only_and_scores_every_epoch(backbone, monkeypatch):
    rows, acts = synthetic(9)
    folds = grouped_folds(rows, 3, 0)
    seen = []
    real = finetune.fit_tuned

    def spy(train_rows, *args, **kwargs):
        seen.append(set(train_rows["item_id"]))
        return real(train_rows, *args, **kwargs)

    monkeypatch.setattr(finetune, "fit_tuned", spy)
    settings = TuneSettings(**{**SETTINGS.__dict__, "epochs": 2})
    cv = cross_validate(rows, acts, folds, [TuneConfig(17, 1e-3)], settings, backbone)
    assert len(seen) == 3
    for trained, held in zip(seen, folds):
        assert not trained & set(rows.loc[held, "item_id"])  # no held-out item is trained on
    assert [s["epochs"] for s in cv["scores"]] == [1, 2]
    assert all(not np.isnan(v).all() for v in cv["oof"].values())


def test_saved_model_runs_its_tuned_blocks_from_pixels(backbone, tmp_path):
    from training.inference.portion_estimator import PortionEstimator
    from training.inference.pyfunc import PortionModel

    rows, acts = synthetic(4)
    settings = {"n_inputs": 1, "hidden": 4, "x_mean": [0], "x_scale": [1], "pca_mean": [0], "pca_components": [[0]]}
    frozen = PortionEstimator(
        [], {**settings, "sigma_scale": 1.0, "typical_mm_per_px": 0.4, "plate_diameter_mm": 240.0}
    )
    one_epoch = TuneSettings(**{**SETTINGS.__dict__, "epochs": 1})
    model = fit_tuned(rows, acts, TuneConfig(17, 1e-3), one_epoch, backbone, fallback=frozen)
    model.meta["log_half_width"] = 0.2
    model.save(tmp_path)
    loaded = TunedPortionEstimator.load(tmp_path)
    np.testing.assert_allclose(predict_log(loaded, rows, acts), predict_log(model, rows, acts), rtol=1e-5)
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), np.uint8))
    small = loaded.estimate("apple", Box(100, 100, 160, 160), (400, 300), Scale("coin", 1.0), None, None, image=photo)
    big = loaded.estimate("apple", Box(100, 100, 260, 260), (400, 300), Scale("coin", 1.0), None, None, image=photo)
    assert small.low < small.grams < small.high and small.basis == "model"
    assert math.isclose(small.high / small.grams, math.exp(0.2), rel_tol=1e-6)
    assert big.grams != small.grams
    # what serving reads of the model: the frozen estimator's settings, and the tuned one behind the pyfunc
    assert (tmp_path / TUNED_FILE).is_file()
    wrapper = PortionModel()
    wrapper.load_context(type("Context", (), {"artifacts": {"portion": str(tmp_path)}})())
    assert isinstance(wrapper.estimator, TunedPortionEstimator)
    assert wrapper.estimator.fallback.meta["plate_diameter_mm"] == 240.0


def test_two_photos_pair_by_item_and_shot():
    rows, _ = synthetic(6, shots=2)
    rows = rows.assign(fold=rows.index % 2)
    log_g = np.log(rows["weight_g"].to_numpy())
    p = pairs(rows, log_g)
    assert len(p) == 12 and set(p.columns) >= {"log_t", "log_s", "w_cm_t", "h_cm_s"}
    # one side photo missing: that shot has no pair
    assert len(pairs(rows.drop(index=1), log_g[np.arange(len(rows)) != 1])) == 11
    # perfect single-photo estimates: the stack keeps them
    stacker = PairStacker.fit(p)
    np.testing.assert_allclose(stacker.predict(p), np.log(p["weight_g"]), atol=1e-6)
    p = p.assign(fold=np.arange(len(p)) % 3)
    assert np.isfinite(pair_cv(p)).all()
