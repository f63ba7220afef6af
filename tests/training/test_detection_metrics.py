import numpy as np
import pytest

from training.detector.metrics import MISSED, Labeled, average_precision, food_top1, mean_ap, recall
from training.inference.boxes import iou

APPLE = Labeled("a", "apple", 10, 10, 110, 110)
COIN = Labeled("a", "coin", 200, 200, 230, 230)
PEAR = Labeled("b", "pear", 50, 50, 150, 250)
TRUTHS = [APPLE, COIN, PEAR]


def shifted(box: Labeled, dx: float, label: str | None = None, score: float = 0.9) -> Labeled:
    return Labeled(box.image, label or box.label, box.xmin + dx, box.ymin, box.xmax + dx, box.ymax, score)


def test_iou():
    assert iou(APPLE.xyxy, np.array([APPLE.xyxy]))[0] == pytest.approx(1)
    assert iou(APPLE.xyxy, np.array([shifted(APPLE, 50).xyxy]))[0] == pytest.approx(50 * 100 / (2 * 10000 - 5000))
    assert iou(APPLE.xyxy, np.array([shifted(APPLE, 500).xyxy]))[0] == 0


def test_perfect_predictions():
    preds = [shifted(t, 0) for t in TRUTHS]
    result = mean_ap(preds, TRUTHS, ["apple", "pear", "coin", "plum"])
    assert result["map50"] == pytest.approx(1) and result["map50_95"] == pytest.approx(1)
    assert "plum" not in result["per_class"]  # no ground truth, no AP
    top1, confusion = food_top1(preds, [APPLE, PEAR], "coin")
    assert top1 == 1 and confusion[("apple", "apple")] == 1
    assert recall(preds, TRUTHS, "coin") == 1


def test_shifted_box_passes_50_but_not_95():
    preds = [shifted(APPLE, 10)]  # IoU 90/110 ≈ 0.82
    assert average_precision(preds, TRUTHS, "apple", 0.5) == pytest.approx(1)
    assert average_precision(preds, TRUTHS, "apple", 0.9) == 0
    assert 0 < mean_ap(preds, [APPLE], ["apple"])["map50_95"] < 1


def test_wrong_class_and_missed():
    preds = [shifted(APPLE, 0, "pear"), shifted(COIN, 0)]
    top1, confusion = food_top1(preds, [APPLE, PEAR], "coin")
    assert top1 == 0
    assert confusion[("apple", "pear")] == 1 and confusion[("pear", MISSED)] == 1
    assert average_precision(preds, TRUTHS, "apple", 0.5) == 0
    assert average_precision(preds, TRUTHS, "pear", 0.5) == 0  # right class in the wrong photo


def test_low_overlap_counts_as_missed():
    top1, confusion = food_top1([shifted(APPLE, 80)], [APPLE], "coin")
    assert top1 == 0 and confusion[("apple", MISSED)] == 1
    assert recall([shifted(COIN, 25)], TRUTHS, "coin") == 0


def test_duplicates_are_false_positives_and_ranking_matters():
    good, duplicate = shifted(APPLE, 0, score=0.9), shifted(APPLE, 2, score=0.8)
    assert average_precision([good, duplicate], TRUTHS, "apple", 0.5) == pytest.approx(1)
    false_first = Labeled("b", "apple", 0, 0, 10, 10, 0.99)
    assert average_precision([false_first, good], TRUTHS, "apple", 0.5) == pytest.approx(0.5)


def test_shifted_box_ap50_95_counts_the_thresholds_it_clears():
    preds = [shifted(APPLE, 10)]  # IoU 90/110 ≈ 0.818: clears 0.50 … 0.80, misses 0.85 … 0.95
    result = mean_ap(preds, [APPLE], ["apple"])
    assert result["per_class"]["apple"]["ap50"] == pytest.approx(1)
    assert result["map50_95"] == pytest.approx(7 / 10)
    top1, _ = food_top1(preds, [APPLE], "coin")
    assert top1 == 1  # a loose but right box still names the food


def test_nothing_detected():
    result = mean_ap([], TRUTHS, ["apple", "pear", "coin"])
    assert result["map50"] == 0 and result["map50_95"] == 0
    assert result["per_class"]["coin"] == {"ap50": 0.0, "ap50_95": 0.0}
    top1, confusion = food_top1([], [APPLE, PEAR], "coin")
    assert top1 == 0 and confusion == {("apple", MISSED): 1, ("pear", MISSED): 1}
    assert recall([], TRUTHS, "coin") == 0


def test_one_class_missed_pulls_the_mean_down():
    preds = [shifted(APPLE, 0), shifted(COIN, 0)]  # the pear in photo b is not found
    result = mean_ap(preds, TRUTHS, ["apple", "pear", "coin"])
    assert result["per_class"]["pear"]["ap50"] == 0
    assert result["map50"] == pytest.approx(2 / 3) and result["map50_95"] == pytest.approx(2 / 3)


def test_half_the_instances_missed():
    second = Labeled("c", "apple", 0, 0, 50, 50)
    assert average_precision([shifted(APPLE, 0)], [APPLE, second], "apple", 0.5) == pytest.approx(0.5)
    assert recall([shifted(COIN, 0)], [COIN, Labeled("c", "coin", 5, 5, 30, 30)], "coin") == pytest.approx(0.5)


def test_a_coin_box_does_not_count_as_a_food():
    top1, confusion = food_top1([shifted(APPLE, 0, "coin")], [APPLE], "coin")
    assert top1 == 0 and confusion[("apple", MISSED)] == 1


def test_no_ground_truth_is_nan_not_zero():
    assert np.isnan(average_precision([shifted(APPLE, 0)], [PEAR], "apple", 0.5))
    assert np.isnan(recall([shifted(COIN, 0)], [APPLE], "coin"))
    assert np.isnan(food_top1([shifted(APPLE, 0)], [], "coin")[0])
