"""End-to-end meal scoring: served foods matched to annotated ones, grams on the found ones, the meal's kcal."""

from __future__ import annotations

import pandas as pd
import pytest

from training.meal_metrics import ServedFood, TrueFood, match_foods, score_photo, summarize

KCAL_PER_G = {"apple": 0.5, "bread": 2.5, "egg": 1.5}
kcal_of = lambda name, grams: KCAL_PER_G[name] * grams  # noqa: E731
class_mean = {"apple": 150.0, "bread": 40.0, "egg": 50.0}.__getitem__


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
    rows, meal = score_photo("p1", truths, foods, "coin", kcal_of, class_mean)
    assert [r["found"] for r in rows] == [True, False]
    assert rows[0]["named"] == "apple" and rows[0]["grams"] == 180 and rows[0]["baseline_grams"] == 150
    assert meal["n_extra"] == 1 and meal["n_true"] == 2 and not meal["clean"]
    assert meal["kcal_true"] == pytest.approx(0.5 * 200 + 1.5 * 50)
    assert meal["kcal_model"] == pytest.approx(0.5 * 180 + 2.5 * 30)
    assert meal["kcal_baseline"] == pytest.approx(0.5 * 150 + 2.5 * 40)
    _, apple_only = score_photo("p1", truths[:1], foods[:1], "coin", kcal_of, class_mean)
    assert apple_only["clean"]


def test_summarize_on_hand_values():
    photos = [
        ("p1", [TrueFood("apple", (0, 0, 100, 100), 200)], [served("apple", (0, 0, 100, 100), 220)], "coin"),  # +10 %
        ("p2", [TrueFood("apple", (0, 0, 100, 100), 100)], [served("egg", (0, 0, 100, 100), 150)], "none"),  # misnamed
        ("p3", [TrueFood("bread", (0, 0, 50, 50), 40)], [], "coin"),  # missed
    ]
    foods, meals = [], []
    for image, truths, served_foods, reference in photos:
        f, m = score_photo(image, truths, served_foods, reference, kcal_of, class_mean)
        foods += f
        meals.append(m)
    s = summarize(pd.DataFrame(foods), pd.DataFrame(meals))
    assert s["n_photos"] == 3 and s["n_foods"] == 3
    assert s["detection"] == pytest.approx(
        {
            "food_found": 2 / 3,
            "food_found_and_named": 1 / 3,
            "coin_found": 2 / 3,
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
