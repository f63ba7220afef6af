"""End-to-end meal scoring: served foods matched to annotated ones, grams on the found ones, the meal's kcal."""

from __future__ import annotations

import pandas as pd
import pytest

from training.bootstrap import ItemBootstrap
from training.meal_metrics import ServedFood, TrueFood, coin_matches, match_foods, score_photo, summarize

KCAL_PER_G = {"apple": 0.5, "bread": 2.5, "egg": 1.5}
kcal_of = lambda name, grams: KCAL_PER_G[name] * grams  # noqa: E731
class_mean = {"apple": 150.0, "bread": 40.0, "egg": 50.0}.__getitem__


COIN_BOX = (300.0, 300.0, 330.0, 330.0)


def served(name, box, grams):
    return ServedFood(name, box, grams, grams * 0.8, grams * 1.2)


def test_match_is_one_to_one_and_needs_overlap():
    truths = [TrueFood("apple", (0, 0, 100, 100), 200), TrueFood("egg", (200, 0, 260, 60), 50)]
    foods = [
        served("egg", (205, 0, 260, 60), 50),
        served("apple", (0, 0, 90, 100), 180),
        served("apple", (0, 0, 100, 95), 190),
    ]
    # both apple boxes overlap the apple; the better one (IoU 0.95 vs 0.90) stands for it, the other is extra
    assert match_foods(truths, foods) == [2, 0]
    assert match_foods(truths, [served("apple", (60, 60, 160, 160), 200)]) == [None, None]  # IoU 0.09
    assert match_foods(truths, []) == [None, None] and match_foods([], foods) == []


def test_score_photo_counts_what_the_reply_would_say():
    truths = [TrueFood("apple", (0, 0, 100, 100), 200), TrueFood("egg", (200, 0, 260, 60), 50)]
    # the apple found and named right at 180 g; the egg missed; a bread box over nothing
    foods = [served("apple", (0, 0, 100, 100), 180), served("bread", (400, 400, 450, 450), 30)]
    rows, meal = score_photo(
        "p1", truths, foods, "coin", kcal_of, class_mean, reference_box=COIN_BOX, true_coin=COIN_BOX
    )
    assert [r["found"] for r in rows] == [True, False]
    assert rows[0]["named"] == "apple" and rows[0]["grams"] == 180 and rows[0]["baseline_grams"] == 150
    assert meal["n_extra"] == 1 and meal["n_true"] == 2 and not meal["clean"]
    assert meal["kcal_true"] == pytest.approx(0.5 * 200 + 1.5 * 50)
    assert meal["kcal_model"] == pytest.approx(0.5 * 180 + 2.5 * 30)
    assert meal["kcal_baseline"] == pytest.approx(0.5 * 150 + 2.5 * 40)
    _, apple_only = score_photo(
        "p1", truths[:1], foods[:1], "coin", kcal_of, class_mean, reference_box=COIN_BOX, true_coin=COIN_BOX
    )
    assert apple_only["clean"]


def test_summarize_on_hand_values():
    photos = [
        ("p1", [TrueFood("apple", (0, 0, 100, 100), 200)], [served("apple", (0, 0, 100, 100), 220)], "coin"),  # +10 %
        ("p2", [TrueFood("apple", (0, 0, 100, 100), 100)], [served("egg", (0, 0, 100, 100), 150)], "none"),  # misnamed
        ("p3", [TrueFood("bread", (0, 0, 50, 50), 40)], [], "coin"),  # missed
    ]
    foods, meals = [], []
    for image, truths, served_foods, reference in photos:
        box = COIN_BOX if reference == "coin" else None
        f, m = score_photo(
            image, truths, served_foods, reference, kcal_of, class_mean, reference_box=box, true_coin=COIN_BOX
        )
        foods += f
        meals.append(m)
    s = summarize(pd.DataFrame(foods), pd.DataFrame(meals))
    assert s["n_photos"] == 3 and s["n_foods"] == 3
    assert s["n_photos_with_coin"] == 3 and s["n_photos_without_coin"] == 0
    assert s["detection"] == pytest.approx(
        {
            "food_found": 2 / 3,
            "food_found_and_named": 1 / 3,
            "coin_found": 2 / 3,
            "false_reference": None,  # no photo without a coin to serve one on
            "extra_foods_per_photo": 0.0,
            "clean_photos": 1 / 3,
        }
    )
    # grams are scored on the found foods whatever their name: 10 % and 50 %
    assert s["model"]["mass_mape"] == pytest.approx(0.3) and s["model"]["within_20pct_mass"] == pytest.approx(0.5)
    assert s["model"]["interval_coverage"] == pytest.approx(0.5)  # 200 in [176, 264]; 100 not in [120, 180]
    # meal kcal: p1 110 vs 100 (10 %), p2 egg 225 vs apple 50 (350 %), p3 0 vs 100 (100 %)
    assert s["model"]["meal_kcal_mape"] == pytest.approx((0.1 + 3.5 + 1.0) / 3)
    assert s["model"]["meal_within_20pct_kcal"] == pytest.approx(1 / 3)
    assert s["model"]["clean_photos"] == pytest.approx(
        {"meal_kcal_mape": 0.1, "meal_within_20pct_kcal": 1.0}
    )  # p1 only
    # the baseline serves the same foods at class-mean grams: apple 150 (-25 %), egg 50 (-50 %)
    assert s["class_mean"]["mass_mape"] == pytest.approx(0.375)
    assert s["class_mean"]["meal_kcal_mape"] == pytest.approx((0.25 + 0.5 + 1.0) / 3)


def coin_photo(image: str, served_coin, true_coin, item: str = "i") -> tuple[list[dict], dict]:
    truths = [TrueFood("apple", (0, 0, 100, 100), 200)]
    foods, meal = score_photo(
        image,
        truths,
        [served("apple", (0, 0, 100, 100), 200)],
        "coin" if served_coin else "none",
        kcal_of,
        class_mean,
        reference_box=served_coin,
        true_coin=true_coin,
    )
    return [{**f, "item_id": item} for f in foods], {**meal, "item_id": item}


def test_a_coin_counts_as_found_only_over_the_annotated_one():
    assert coin_matches(COIN_BOX, COIN_BOX)
    assert coin_matches((305.0, 300.0, 335.0, 330.0), COIN_BOX)  # IoU 25/35 ≈ 0.71
    assert not coin_matches((315.0, 300.0, 345.0, 330.0), COIN_BOX)  # IoU 15/45 ≈ 0.33: some other round thing
    assert not coin_matches(None, COIN_BOX) and not coin_matches(COIN_BOX, None)
    _, meal = coin_photo("p", (315.0, 300.0, 345.0, 330.0), COIN_BOX)
    assert meal["reference"] == "coin" and not meal["coin_found"] and not meal["false_reference"]


def test_a_coin_on_a_photo_without_one_is_a_false_reference():
    rows = [
        coin_photo("p1", COIN_BOX, COIN_BOX),  # found
        coin_photo("p2", (315.0, 300.0, 345.0, 330.0), COIN_BOX),  # served, but beside the coin
        coin_photo("p3", None, COIN_BOX),  # missed
        coin_photo("p4", COIN_BOX, None),  # a coin where the photo has none
        coin_photo("p5", None, None),  # none, rightly
    ]
    foods = pd.DataFrame([f for fs, _ in rows for f in fs])
    meals = pd.DataFrame([m for _, m in rows])
    assert meals["false_reference"].tolist() == [False, False, False, True, False]
    s = summarize(foods, meals)
    assert s["n_photos_with_coin"] == 3 and s["n_photos_without_coin"] == 2
    assert s["detection"]["coin_found"] == pytest.approx(1 / 3)  # of the three photos with a coin
    assert s["detection"]["false_reference"] == pytest.approx(1 / 2)  # of the two without


def test_summarize_puts_an_item_bootstrap_interval_beside_each_share():
    # four items of three photos; the coin of the first is never found
    rows = [coin_photo(f"p{k}", COIN_BOX if k >= 3 else None, COIN_BOX, item=f"i{k // 3}") for k in range(12)]
    foods = pd.DataFrame([f for fs, _ in rows for f in fs])
    meals = pd.DataFrame([m for _, m in rows])
    plain = summarize(foods, meals)
    s = summarize(foods, meals, ItemBootstrap(meals["item_id"], resamples=200, seed=1))
    for section in ("detection", "model", "class_mean"):
        for name, value in plain[section].items():
            if isinstance(value, float):
                assert s[section][name] == pytest.approx(value)  # the figure itself does not move
                low, high = s[section][f"{name}_ci95"]
                assert low <= value + 1e-12 and value <= high + 1e-12, (section, name)
    assert s["detection"]["coin_found"] == pytest.approx(3 / 4)
    low, high = s["detection"]["coin_found_ci95"]
    assert low < 3 / 4 and high == pytest.approx(1)  # resamples without the first item find every coin
    assert s["detection"]["false_reference"] is None and s["detection"]["false_reference_ci95"] is None
