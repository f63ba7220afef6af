"""Portion estimator: scale from the reference, geometric baseline, intervals, class and size priors, bad input."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from training.bootstrap import ItemBootstrap
from training.inference.boxes import Box
from training.inference.labels import COIN_DIAMETER_MM, FOOD_TYPES
from training.inference.portion_estimator import Z80, NoReferenceError, PortionEstimator
from training.inference.portion_features import (
    PortionInputError,
    Scale,
    coin_scale,
    fallback_scale,
    fit_size_prior,
    geometry,
    size_prior,
)
from training.portion.baselines import ClassMeanBaseline, GeometricBaseline, ellipsoid_volume_ml
from training.portion.fit import fit_estimator, grouped_folds
from training.portion.metrics import error_summary, evaluate
from training.portion.priors import fit_agnostic_prior, fit_class_prior, leave_food_out_log_grams

N_FEATURES = 1280


def test_scale_from_coin_box_uses_its_longer_side():
    scale = coin_scale(Box(10, 10, 110, 60), 800, 600)  # a tilted coin: 100 px across, 50 px high
    assert scale.kind == "coin" and scale.box == Box(10, 10, 110, 60)
    assert scale.mm_per_px == pytest.approx(COIN_DIAMETER_MM / 100)
    size = geometry(Box(0, 0, 400, 200), scale)
    assert size == pytest.approx({"w_cm": 10.0, "h_cm": 5.0})


def test_fallback_scale_is_per_pixel_of_the_photo_width():
    assert fallback_scale(816, 0.4).mm_per_px == pytest.approx(0.4)
    assert fallback_scale(1632, 0.4).mm_per_px == pytest.approx(0.2)
    assert fallback_scale(816, 0.4).kind == "none"


def test_geometric_volume_of_a_sphere():
    d = np.array([6.0])
    expected = 4 / 3 * math.pi * 3.0**3
    for view in ("S", "T"):
        assert ellipsoid_volume_ml(d, d, pd.Series([view]))[0] == pytest.approx(expected)


def test_geometric_baseline_recovers_a_known_density():
    rows = pd.DataFrame(
        {
            "label": ["apple"] * 4,
            "view": ["S", "T", "S", "T"],
            "w_cm": [6.0, 7.0, 8.0, 9.0],
            "h_cm": [6.0, 7.0, 8.0, 9.0],
        }
    )
    rows["weight_g"] = 0.8 * ellipsoid_volume_ml(rows["w_cm"], rows["h_cm"], rows["view"])
    baseline = GeometricBaseline.fit(rows)
    assert baseline.factor["apple"] == pytest.approx(0.8)
    assert baseline.predict(rows)["grams"].to_numpy() == pytest.approx(rows["weight_g"].to_numpy())


def test_class_mean_counts_each_item_once():
    rows = pd.DataFrame(
        {"item_id": ["a1", "a1", "a1", "a2"], "label": ["apple"] * 4, "weight_g": [100.0, 100.0, 100.0, 200.0]}
    )
    assert ClassMeanBaseline.fit(rows).mean["apple"] == pytest.approx(150.0)


def test_error_summary_on_hand_values():
    true = np.array([100.0, 100.0, 100.0, 100.0])
    pred = np.array([100.0, 110.0, 130.0, 50.0])
    out = error_summary(true, pred, pred * 0.9, pred * 1.1, true * 2, pred * 2)
    assert out["mass_mape"] == pytest.approx((0 + 0.1 + 0.3 + 0.5) / 4)
    assert out["within_20pct_mass"] == pytest.approx(0.5)
    assert out["kcal_mape"] == pytest.approx(out["mass_mape"])
    assert out["interval_coverage"] == pytest.approx(0.5)  # 100 is inside [90, 110] and [99, 121]


def test_photo_figures_get_item_bootstrap_intervals_and_do_not_move():
    # two items: a1 estimated 10 % high on both photos, a2 30 % low on both
    rows = pd.DataFrame(
        {"item_id": ["a1", "a1", "a2", "a2"], "label": ["apple"] * 4, "weight_g": [100.0, 100.0, 200.0, 200.0]}
    )
    grams = np.array([110.0, 110.0, 140.0, 140.0])
    predicted = pd.DataFrame({"grams": grams, "low": grams * 0.9, "high": grams * 1.1})
    kcal_of = lambda label, g: 0.5 * g  # noqa: E731
    plain = evaluate(rows, predicted, kcal_of)["photo"]
    photo = evaluate(rows, predicted, kcal_of, ItemBootstrap(rows["item_id"], resamples=500, seed=0))["photo"]
    assert {k: v for k, v in photo.items() if not k.endswith("_ci95")} == pytest.approx(plain)
    assert plain["mass_mape"] == pytest.approx(0.2) and plain["within_20pct_mass"] == pytest.approx(0.5)
    # a resample is a1 twice, a2 twice, or one of each: the interval spans the two items' own errors
    assert photo["mass_mape_ci95"] == pytest.approx([0.1, 0.3])
    assert photo["within_20pct_mass_ci95"] == pytest.approx([0.0, 1.0])
    assert photo["interval_coverage_ci95"] == pytest.approx([0.0, 1.0])  # 100 in [99, 121]; 200 not in [126, 154]
    assert set(photo) == set(plain) | {f"{k}_ci95" for k in plain}


def test_grouped_folds_keep_items_whole():
    rows = pd.DataFrame({"item_id": [f"i{k // 3}" for k in range(60)]})
    folds = grouped_folds(rows, 5, seed=0)
    assert np.sum(folds, axis=0).tolist() == [1] * 60  # every photo in exactly one fold
    for fold in folds:
        assert not set(rows.loc[fold, "item_id"]) & set(rows.loc[~fold, "item_id"])


def test_grouped_folds_keep_every_food_on_the_training_side():
    rows = pd.DataFrame(
        {"item_id": ["g1", "g1", "g2", *[f"a{i}" for i in range(12)]], "label": ["grape"] * 3 + ["apple"] * 12}
    )
    for fold in grouped_folds(rows, 5, seed=3):
        assert set(rows.loc[~fold, "label"]) == {"grape", "apple"}


def test_a_food_absent_from_training_does_not_blow_up(estimator):
    rows, feats = synthetic_rows(2, seed=7)
    pred = estimator.predict_frame(rows.assign(label="pear"), feats)  # pear never seen: its one-hot column was constant
    assert np.isfinite(pred.to_numpy()).all() and (pred["grams"] < 1e4).all()


def synthetic_rows(n_items: int, seed: int, sizes: tuple[float, float] = (4, 10)) -> tuple[pd.DataFrame, np.ndarray]:
    """Spherical foods of two kinds whose weight follows their calibrated size (density 0.9 and 0.6)."""
    rng = np.random.default_rng(seed)
    rows = []
    for item in range(n_items):
        label = ("apple", "bread")[item % 2]
        d = rng.uniform(*sizes)
        for view in ("S", "T"):
            rows.append(
                {
                    "item_id": f"{label}{item:03d}",
                    "label": label,
                    "view": view,
                    "w_cm": d * rng.uniform(0.97, 1.03),
                    "h_cm": d * rng.uniform(0.97, 1.03),
                    "weight_g": (0.9 if label == "apple" else 0.6) * math.pi / 6 * d**3,
                }
            )
    return pd.DataFrame(rows), rng.normal(size=(len(rows), N_FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def estimator() -> PortionEstimator:
    train, f_train = synthetic_rows(60, seed=1)
    val, f_val = synthetic_rows(16, seed=2)
    val_no_ref = val.assign(w_cm=val["w_cm"] * 1.3, h_cm=val["h_cm"] * 1.3)  # a wrong guess of the scale
    cfg = SimpleNamespace(
        pca_components=2, hidden=16, dropout=0.0, lr=0.01, weight_decay=0.0, epochs=60, seed=0, size_prior_slope=1.5
    )
    model, _, info = fit_estimator(
        train, f_train, val, f_val, cfg, members=2, typical_mm_per_px=0.4, val_no_ref=val_no_ref
    )
    assert info["no_reference_sigma"] > 0
    meta = {
        **model.meta,
        "plate_sigma": 0.1,
        "plate_diameter_mm": 260.0,
        "class_prior": fit_class_prior(train, val),
        "agnostic_prior": fit_agnostic_prior(train, val, 1.5),
    }
    return PortionEstimator(model.members, meta)


def test_size_prior_recovers_each_class_intercept():
    rows, _ = synthetic_rows(12, seed=4)
    rows = rows.assign(weight_g=np.where(rows["label"] == "apple", 0.5, 0.3) * (rows["w_cm"] * rows["h_cm"]) ** 1.5)
    intercepts = fit_size_prior(rows, 1.5)
    assert intercepts == pytest.approx({"apple": math.log(0.5), "bread": math.log(0.3)})
    np.testing.assert_allclose(size_prior(rows, 1.5, intercepts), np.log(rows["weight_g"]))
    unseen = size_prior(rows.assign(label="pear").head(1), 1.5, intercepts)[0]
    assert unseen == pytest.approx(
        (math.log(0.5) + math.log(0.3)) / 2 + 1.5 * math.log(rows["w_cm"][0] * rows["h_cm"][0])
    )


def test_every_second_member_predicts_relative_to_the_size_prior(estimator):
    assert estimator.meta["prior_members"] == [False, True]
    rows, feats = synthetic_rows(4, seed=8)
    without_prior = PortionEstimator(estimator.members, {**estimator.meta, "prior_members": [False, False]})
    shift = np.log(estimator.predict_frame(rows, feats)["grams"]) - np.log(
        without_prior.predict_frame(rows, feats)["grams"]
    )
    np.testing.assert_allclose(shift, size_prior(rows, **estimator.meta["size_prior"]) / 2, rtol=1e-5)


def test_a_model_with_settings_this_code_does_not_know_is_refused(estimator):
    with pytest.raises(ValueError, match=r"needs newer code.*depth_prior"):
        PortionEstimator(estimator.members, {**estimator.meta, "depth_prior": {"slope": 1.0}})


def test_a_box_larger_than_any_in_training():
    """Trained on 6-8 cm foods, asked about 11 cm ones (2.6-6x heavier): the estimate grows with the box."""
    train, f_train = synthetic_rows(40, seed=1, sizes=(6, 8))
    val, f_val = synthetic_rows(10, seed=2, sizes=(6, 8))
    cfg = SimpleNamespace(
        pca_components=2, hidden=16, dropout=0.0, lr=0.01, weight_decay=0.0, epochs=60, seed=0, size_prior_slope=1.5
    )
    model, _, _ = fit_estimator(train, f_train, val, f_val, cfg, members=2, typical_mm_per_px=0.4)
    big, f_big = synthetic_rows(6, seed=9, sizes=(11, 11))
    ratio = model.predict_frame(big, f_big)["grams"].to_numpy() / big["weight_g"].to_numpy()
    assert 0.8 < np.median(ratio) < 1.25, ratio


def test_learns_weight_from_calibrated_size(estimator):
    test, f_test = synthetic_rows(10, seed=3)
    pred = estimator.predict_frame(test, f_test)
    mape = float(np.mean(np.abs(pred["grams"] - test["weight_g"]) / test["weight_g"]))
    assert mape < 0.3
    assert (pred["low"] < pred["grams"]).all() and (pred["grams"] < pred["high"]).all()


def test_estimate_with_a_coin_returns_grams_inside_its_range(estimator):
    features = np.zeros(N_FEATURES, np.float32)
    coin = coin_scale(Box(700, 500, 740, 540), 816, 612)  # 40 px = 25 mm
    out = estimator.estimate("apple", Box(100, 100, 228, 228), (816, 612), coin, "T", features)  # 8 cm across
    assert out.reference == "coin" and out.mm_per_px == pytest.approx(25 / 40) and out.basis == "model"
    assert out.low < out.grams < out.high
    assert 0.5 * 0.9 * math.pi / 6 * 8**3 < out.grams < 2 * 0.9 * math.pi / 6 * 8**3


def test_without_a_reference_the_class_prior_answers_with_a_wider_range(estimator):
    features, box = np.zeros(N_FEATURES, np.float32), Box(100, 100, 300, 300)
    with_coin = estimator.estimate("apple", box, (816, 612), Scale("coin", 0.4), "T", features)
    without = estimator.estimate("apple", box, (816, 612), Scale("none", None), "T", features)
    prior = estimator.meta["class_prior"]
    assert without.reference == "none" and without.mm_per_px is None and without.basis == "class_prior"
    assert without.grams == pytest.approx(math.exp(prior["log_mean"]["apple"]))
    assert (without.high / without.low) > (with_coin.high / with_coin.low)
    # the box's size does not matter: without a reference it means nothing
    bigger = estimator.estimate("apple", Box(50, 50, 450, 450), (816, 612), Scale("none", None), "T", features)
    assert bigger == without


def test_a_plate_scale_gives_the_coin_s_grams_with_a_wider_range(estimator):
    features, box = np.zeros(N_FEATURES, np.float32), Box(100, 100, 300, 300)
    coin = estimator.estimate("apple", box, (816, 612), Scale("coin", 0.4), "T", features)
    plate = estimator.estimate("apple", box, (816, 612), Scale("plate", 0.4, Box(0, 0, 600, 500)), "T", features)
    assert plate.reference == "plate" and plate.basis == "model"
    assert plate.grams == pytest.approx(coin.grams, rel=1e-6)
    assert (plate.high / plate.low) > (coin.high / coin.low)


def test_a_food_the_model_never_saw_gets_the_shared_size_prior(estimator):
    features, box = np.zeros(N_FEATURES, np.float32), Box(100, 100, 300, 300)  # 8 cm × 8 cm at 0.4 mm/px
    out = estimator.estimate("pizza", box, (816, 612), Scale("coin", 0.4), None, features)
    prior = estimator.meta["agnostic_prior"]
    assert out.basis == "size_prior" and out.reference == "coin"
    assert out.grams == pytest.approx(math.exp(prior["intercept"] + prior["slope"] * math.log(64)))
    assert out.high / out.grams == pytest.approx(math.exp(prior["log_half_width"]))
    bigger = estimator.estimate("pizza", Box(0, 0, 400, 400), (816, 612), Scale("coin", 0.4), None, features)
    assert bigger.grams > out.grams  # a bigger box never weighs less
    on_plate = estimator.estimate("pizza", box, (816, 612), Scale("plate", 0.4), None, features)
    assert on_plate.high / on_plate.grams > out.high / out.grams


def test_a_food_the_model_never_saw_without_a_reference_is_a_clear_error(estimator):
    with pytest.raises(NoReferenceError, match=r"'pizza'.*reference"):
        estimator.estimate("pizza", Box(1, 1, 9, 9), (816, 612), Scale("none", None), None, np.zeros(N_FEATURES))
    assert issubclass(NoReferenceError, PortionInputError)  # callers catching PortionInputError still do


def test_an_out_of_fold_half_width_sets_every_interval(estimator):
    rows, feats = synthetic_rows(4, seed=6)
    constant = PortionEstimator(estimator.members, {**estimator.meta, "log_half_width": math.log(1.25)})
    pred = constant.predict_frame(rows, feats)
    np.testing.assert_allclose(pred["grams"], estimator.predict_frame(rows, feats)["grams"], rtol=1e-6)
    np.testing.assert_allclose(pred["high"] / pred["grams"], 1.25, rtol=1e-6)
    np.testing.assert_allclose(pred["grams"] / pred["low"], 1.25, rtol=1e-6)
    box, features = Box(100, 100, 300, 300), np.zeros(N_FEATURES, np.float32)
    on_plate = constant.estimate("apple", box, (816, 612), Scale("plate", 0.4), "T", features)
    assert on_plate.high / on_plate.grams > 1.25  # the plate's scale error still widens it


def test_unknown_view_is_accepted(estimator):
    coin = coin_scale(Box(700, 500, 740, 540), 816, 612)
    out = estimator.estimate("bread", Box(100, 100, 228, 228), (816, 612), coin, None, np.zeros(N_FEATURES, np.float32))
    assert out.low < out.grams < out.high


@pytest.mark.parametrize(
    "food, box, reference, message",
    [
        ("apple", Box(100, 100, 100, 200), None, "no area"),
        ("apple", Box(700, 100, 900, 200), None, "outside"),
        ("apple", Box(100, 100, 200, 200), Box(5, 5, 5, 9), "coin box"),
        ("pizza", Box(100, 100, 200, 200), None, "pizza"),
    ],
)
def test_bad_inputs_raise_clear_errors(estimator, food, box, reference, message):
    with pytest.raises(PortionInputError, match=message):
        scale = coin_scale(reference, 816, 612) if reference is not None else Scale("none", None)
        estimator.estimate(food, box, (816, 612), scale, "S", np.zeros(N_FEATURES, np.float32))


def test_save_and_load_round_trip(estimator, tmp_path):
    estimator.save(tmp_path)
    loaded = PortionEstimator.load(tmp_path)
    rows, feats = synthetic_rows(4, seed=5)
    pd.testing.assert_frame_equal(loaded.predict_frame(rows, feats), estimator.predict_frame(rows, feats))
    with pytest.raises(FileNotFoundError, match="train_portion"):
        PortionEstimator.load(tmp_path / "missing")


def test_all_ecustfd_foods_are_known():
    assert len(FOOD_TYPES) == 19


def test_class_prior_counts_items_once_and_shrinks_a_lone_item_s_spread():
    train = pd.DataFrame(
        {
            "item_id": ["a1", "a1", "a2", "a3", "g1"],
            "label": ["apple"] * 4 + ["grape"],
            "weight_g": [100.0, 100.0, 200.0, 400.0, 220.0],
        }
    )
    prior = fit_class_prior(train, train)
    assert prior["log_mean"]["apple"] == pytest.approx(math.log(200.0))  # a1 counted once
    assert prior["log_sd"]["grape"] > 0  # one item: the pooled spread, not zero
    z = np.abs(np.log(train["weight_g"]) - train["label"].map(prior["log_mean"]))
    sigma = train["label"].map(prior["log_sd"]) * prior["sigma_scale"]
    assert np.mean(z <= Z80 * sigma + 1e-9) >= 0.8  # its range covers 80 % of the photos it was set on


def test_the_shared_size_prior_leaves_each_food_out_of_its_own_score():
    rows = pd.DataFrame({"label": ["apple", "bread", "pear"], "w_cm": [2.0, 2.0, 2.0], "h_cm": [1.0, 1.0, 1.0]})
    out = leave_food_out_log_grams(rows, 1.0, {"apple": 1.0, "bread": 3.0, "pear": 5.0})
    np.testing.assert_allclose(out, np.array([4.0, 3.0, 2.0]) + math.log(2.0))
