"""The learning curve's draws, gallery and retraining on a small synthetic feature set of separable foods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.bootstrap import ItemBootstrap
from training.inference.naming import UNKNOWN
from training.openset.curve_report import curve_figures, goal_check, way_answers
from training.openset.evaluate import ImagenetOpinion, choose_thresholds, food_folds, score_folds
from training.openset.learning_curve import (
    GALLERY,
    GALLERY_UNKNOWN_ONLY,
    KNOWN,
    NEW,
    OTHER,
    RETRAIN,
    choose_gallery_threshold,
    gallery_vectors,
    labelled_draws,
    score_draws,
)

DIM = 16
FOODS = ("apple", "banana", "bread", "egg", "grape", "lemon")
SPLIT_ITEMS = {"train": 4, "val": 1, "test": 2}
PHOTOS_PER_ITEM, CROPS_PER_PHOTO = 3, 2


def crops(make, noise: float = 0.5, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Foods on their own axis, items of a few photos, each photo with a couple of crops."""
    return make(FOODS, SPLIT_ITEMS, PHOTOS_PER_ITEM, CROPS_PER_PHOTO, dim=DIM, noise=noise, seed=seed)


def no_imagenet() -> ImagenetOpinion:
    return ImagenetOpinion(["pizza"], np.zeros((2, DIM)), np.zeros(2), np.array([0]))


@pytest.fixture(scope="module")
def scored(synthetic_crops):
    index, features = crops(synthetic_crops)
    folds = food_folds(list(FOODS), 3, seed=0)
    rows = score_folds(index, features, folds, c=0.03, components=8, imagenet=no_imagenet())
    thresholds, _, _ = choose_thresholds(rows[rows["split"] == "val"], [3.0], [0.9], 0.02, 0.75)
    table = score_draws(index, features, rows, folds, thresholds, [1, 3, 5], 3, 2, c=0.03, components=8)
    return table


def test_draws_are_nested_seeded_from_train_photos_of_the_food_only(synthetic_crops):
    index, _ = crops(synthetic_crops)
    draws = labelled_draws(index, "bread", [1, 3, 5, 100], repeats=3, seed=7)
    assert [(d.k, d.repeat) for d in draws[:4]] == [(1, 0), (3, 0), (5, 0), (100, 0)]
    for d in draws:
        picked = index.iloc[d.rows]
        assert (picked["label"] == "bread").all() and (picked["split"] == "train").all()
        assert picked["image"].nunique() == min(d.k, 4 * PHOTOS_PER_ITEM)
        assert len(picked) == picked["image"].nunique() * CROPS_PER_PHOTO  # a photo's every crop of the food
    by = {(d.k, d.repeat): set(d.rows) for d in draws}
    assert by[(1, 0)] <= by[(3, 0)] <= by[(5, 0)] <= by[(100, 0)]
    assert by[(5, 0)] != by[(5, 1)]  # repeats draw other photos
    again = labelled_draws(index, "bread", [1, 3, 5, 100], repeats=3, seed=7)
    assert all(np.array_equal(a.rows, b.rows) for a, b in zip(draws, again))
    with pytest.raises(ValueError, match="no train photo"):
        labelled_draws(index, "pizza", [1], 1, 0)


def test_gallery_vectors_are_unit_like_the_bots():
    vectors = gallery_vectors(np.array([[3.0, 4.0], [0.0, 2.0]]))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.allclose(vectors[0], [0.6, 0.8], atol=1e-3)


def test_rows_cover_every_hidden_food_and_k0_is_the_namer(scored):
    table = scored
    assert sorted(table["food"].unique()) == sorted(FOODS)
    assert set(table["k"]) == {0, 1, 3, 5}
    assert set(table.loc[table["k"] == 0, "repeat"]) == {0}
    zero = table[table["k"] == 0]
    assert (zero[RETRAIN] == zero["namer"]).all() and np.isneginf(zero["cosine"]).all()
    taught = table[(table["k"] == 5) & (table["split"] == "test")]
    assert taught.loc[taught["repeat"] < 2, RETRAIN].notna().all()
    assert taught.loc[taught["repeat"] == 2, RETRAIN].isna().all()  # retraining only for retrain_repeats
    assert set(table["kind"]) == {NEW, KNOWN, OTHER}


def test_separable_foods_are_learned_and_known_foods_kept(scored):
    table = scored
    val, test = table[table["split"] == "val"], table[table["split"] == "test"]
    chosen = {}
    for way in (GALLERY, GALLERY_UNKNOWN_ONLY):
        chosen[way], grid = choose_gallery_threshold(val, [0.85, -1.0, 0.5, 0.99], 5, 0.01, 0.05, way != GALLERY)
        assert grid["chosen"].sum() == 1
    assert chosen[GALLERY] != -1.0  # naming every crop the new food breaks the known foods: never chosen
    bootstrap = ItemBootstrap(test["item_id"])
    for way in (GALLERY, GALLERY_UNKNOWN_ONLY, RETRAIN):
        pooled = curve_figures(test, way_answers(test, way, chosen), bootstrap)
        assert pooled["k0"]["new_top1"] == 0.0  # the namer alone never names a food it does not know
        assert pooled["k5"]["known_top1"] >= pooled["k0"]["known_top1"] - 0.02, way
        low, high = pooled["k5"]["new_top1_ci95"]
        assert low <= pooled["k5"]["new_top1"] <= high
        if way == GALLERY_UNKNOWN_ONLY:  # asked only where the namer abstains: capped by how often it does
            abstained = pooled["k0"]["new_answered_unknown"]
            assert 0.9 * abstained <= pooled["k5"]["new_top1"] <= abstained + 1e-9
        elif way == GALLERY:
            assert pooled["k5"]["new_top1"] >= 0.9
            assert goal_check(pooled, 5, 0.8, 0.02)["met"]
        else:  # a small new class scores lower under the namer's thresholds: more photos, fewer abstentions
            assert pooled["k1"]["new_top1"] < pooled["k5"]["new_top1"] and pooled["k5"]["new_top1"] >= 0.6
            assert pooled["k5"]["new_top1"] + pooled["k5"]["new_answered_unknown"] >= 0.95  # abstains, never misnames


def test_unknown_only_changes_nothing_the_namer_named(scored):
    table = scored
    answer = way_answers(table, GALLERY_UNKNOWN_ONLY, {GALLERY_UNKNOWN_ONLY: -1.0})
    changed = answer != table["namer"].to_numpy(dtype=object)
    assert changed.any() and (table["namer"].to_numpy()[changed] == UNKNOWN).all()
    everything = way_answers(table, GALLERY, {GALLERY: -1.0})
    taught = (table["k"] > 0).to_numpy()
    assert (everything[taught] == table["food"].to_numpy()[taught]).all()  # threshold -1: the gallery names all


def test_a_goal_missed_says_so():
    pooled = {"k0": {"known_top1": 0.95, "new_top1": 0.0}, "k5": {"known_top1": 0.90, "new_top1": 0.85}}
    check = goal_check(pooled, 5, 0.8, 0.01)
    assert not check["met"] and check["largest_known_top1_drop"] == pytest.approx(0.05)
    pooled["k5"]["known_top1"] = 0.95
    assert goal_check(pooled, 5, 0.8, 0.01)["met"]
    pooled["k5"]["new_top1"] = 0.7
    assert not goal_check(pooled, 5, 0.8, 0.01)["met"]
