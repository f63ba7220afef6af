"""The item-level bootstrap: intervals of the right width, items (not photos) resampled, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from training.bootstrap import ItemBootstrap, ci_key


def test_the_interval_of_a_mean_has_the_known_width():
    # 400 items, one photo each, values with sd 1: the mean's 95 % interval is about ±1.96 / sqrt(400) = ±0.098
    values = np.random.default_rng(5).normal(3.0, 1.0, size=400)
    items = [f"i{k}" for k in range(400)]
    low, high = ItemBootstrap(items, resamples=2000, seed=0).mean(values, items)
    sd = values.std(ddof=1)
    assert low < values.mean() < high
    assert (high - low) / 2 == pytest.approx(1.96 * sd / np.sqrt(400), rel=0.1)


def test_photos_of_one_item_are_resampled_together():
    # 20 items, 10 identical photos each: as uncertain as 20 photos, not 200
    item_values = np.random.default_rng(1).normal(0.0, 1.0, size=20)
    items = [f"i{k}" for k in range(20)]
    per_item = ItemBootstrap(items, resamples=500, seed=3)
    photo_items = [item for item in items for _ in range(10)]
    photo_values = np.repeat(item_values, 10)
    assert per_item.mean(photo_values, photo_items) == pytest.approx(per_item.mean(item_values, items))
    as_if_independent = ItemBootstrap(range(200), resamples=500, seed=3).mean(photo_values, list(range(200)))
    width = lambda interval: interval[1] - interval[0]  # noqa: E731
    assert width(per_item.mean(photo_values, photo_items)) > 2 * width(as_if_independent)


def test_seeded_and_the_same_draws_for_every_figure():
    items = [f"i{k}" for k in range(30)]
    values = np.arange(30.0)
    a, b = ItemBootstrap(items, resamples=300, seed=7), ItemBootstrap(items, resamples=300, seed=7)
    assert a.mean(values, items) == b.mean(values, items)
    assert ItemBootstrap(items, resamples=300, seed=8).mean(values, items) != a.mean(values, items)
    assert a.spec() == {
        "unit": "item",
        "resamples": 300,
        "seed": 7,
        "level": 0.95,
        "method": "percentile",
        "n_items": 30,
    }


def test_any_statistic_recomputed_on_the_resampled_rows():
    rng = np.random.default_rng(2)
    items = [f"i{k % 25}" for k in range(75)]
    values = rng.exponential(size=75)
    boot = ItemBootstrap(items, resamples=400, seed=0)
    by_rows = boot.statistic(lambda rows: values[rows].mean(), items)
    assert by_rows == pytest.approx(boot.mean(values, items))
    low, high = boot.statistic(lambda rows: np.median(values[rows]), items)
    assert low < np.median(values) < high


def test_no_spread_no_width_and_undefined_resamples_left_out():
    items = ["a", "a", "b", "c"]
    boot = ItemBootstrap(items, resamples=200, seed=0)
    assert boot.mean([0.2, 0.2, 0.2, 0.2], items) == pytest.approx([0.2, 0.2])
    # a figure over item "a"'s photos only is undefined in the resamples without "a": those are left out
    only_a = ["a", "a"]
    assert boot.mean([1.0, 1.0], only_a) == pytest.approx([1.0, 1.0])
    assert np.isnan(boot.interval(np.full(10, np.nan))).all()


def test_bad_input_is_refused():
    boot = ItemBootstrap(["a", "b"], resamples=10)
    with pytest.raises(ValueError, match="not among"):
        boot.weights(["a", "z"])
    with pytest.raises(ValueError, match="values for"):
        boot.mean([1.0], ["a", "b"])
    with pytest.raises(ValueError):
        ItemBootstrap([])
    with pytest.raises(ValueError):
        ItemBootstrap(["a"], resamples=0)
    assert ci_key("mass_mape") == "mass_mape_ci95"
