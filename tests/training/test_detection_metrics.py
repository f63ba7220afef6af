import numpy as np
import pytest

from training.detector.metrics import (
    MISSED,
    Labeled,
    average_precision,
    food_top1,
    match_one_to_one,
    mean_ap,
    recall,
    resampled_map50,
)
from training.inference.boxes import Box, iou
from training.inference.food_detector import FoodBox
from training.inference.plate import Thresholds, served_coin, served_foods

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


def test_one_to_one_a_duplicate_box_costs():
    good, duplicate = shifted(APPLE, 0, score=0.9), shifted(APPLE, 3, score=0.8)
    matched = match_one_to_one([good, duplicate, shifted(PEAR, 0)], [APPLE, PEAR])
    assert matched.predicted == ["apple", "pear"] and matched.false == [duplicate]
    assert matched.correct([APPLE, PEAR]).tolist() == [True, True]
    # a box over nothing is false too; a box in another photo never stands for this one's food
    nothing = Labeled("a", "bread", 400, 400, 450, 450, 0.95)
    matched = match_one_to_one([nothing, Labeled("b", "apple", 10, 10, 110, 110, 0.9)], [APPLE])
    assert matched.predicted == [MISSED] and len(matched.false) == 2


def test_one_to_one_one_box_cannot_name_two_foods():
    # two annotated foods almost on top of each other, one box over both: the lenient top-1 counts both
    second = Labeled("a", "apple", 12, 10, 112, 110)
    box = shifted(APPLE, 1)
    assert food_top1([box], [APPLE, second], "coin")[0] == 1
    matched = match_one_to_one([box], [APPLE, second])
    assert sorted(matched.predicted) == sorted(["apple", MISSED]) and matched.false == []
    assert matched.correct([APPLE, second]).mean() == 0.5


def test_one_to_one_goes_by_confidence_whatever_the_name():
    wrong_first = shifted(APPLE, 5, "pear", score=0.9)  # more confident, wrong name
    right = shifted(APPLE, 0, score=0.6)  # overlaps more, right name
    assert food_top1([wrong_first, right], [APPLE], "coin")[0] == 1  # lenient: best overlap wins
    matched = match_one_to_one([right, wrong_first], [APPLE])
    assert matched.predicted == ["pear"] and matched.false == [right]  # served: the reply lists the pear
    assert matched.confusion([APPLE]) == {("apple", "pear"): 1}
    assert match_one_to_one([shifted(APPLE, 60)], [APPLE]).predicted == [MISSED]  # IoU 40/160 < 0.5


def box(label: str, xyxy, confidence: float) -> FoodBox:
    return FoodBox(label, confidence, Box(*xyxy), confidence, 1.0)


def test_served_foods_apply_the_served_thresholds_and_suppress_duplicates():
    t = Thresholds(food=0.1, coin=0.05, max_foods=2, overlap_iou=0.3)
    boxes = [
        box("apple", (0, 0, 100, 100), 0.9),
        box("apple", (5, 0, 105, 100), 0.8),  # the same apple again (IoU 0.90): not listed
        box("pear", (200, 0, 300, 100), 0.05),  # under the food threshold
        box("egg", (400, 0, 450, 50), 0.5),
        box("bun", (600, 0, 650, 50), 0.4),  # a third food: over max_foods
        box("coin", (700, 0, 730, 30), 0.04),
        box("coin", (800, 0, 830, 30), 0.07),
    ]
    assert [b.label for b in served_foods(boxes, t)] == ["apple", "egg"]
    assert served_coin(boxes, t).box.xmin == 800
    assert served_coin(boxes[:6], t) is None
    # a box the estimator refuses is not listed and takes no place: the next one comes in
    refused = served_foods(boxes, t, accept=lambda b: None if b.label == "apple" else b.label)
    assert refused == ["egg", "bun"]


def duplicated(boxes, copies: int, image: str) -> list[Labeled]:
    """Photo `image`'s boxes `copies` times over, each copy a photo of its own."""
    return [
        Labeled(f"{b.image}#{k}", b.label, b.xmin, b.ymin, b.xmax, b.ymax, b.score)
        for k in range(copies)
        for b in boxes
        if b.image == image
    ]


def test_resampled_map50_is_map50_on_the_photos_drawn():
    truths = [*TRUTHS, Labeled("c", "apple", 0, 0, 50, 50), Labeled("c", "coin", 60, 60, 80, 80)]
    preds = [
        shifted(APPLE, 0, score=0.9),
        shifted(APPLE, 4, score=0.7),  # duplicate
        shifted(COIN, 0, score=0.8),
        shifted(PEAR, 0, "apple", score=0.6),  # wrong class
        Labeled("c", "apple", 2, 0, 52, 50, 0.5),
        Labeled("c", "coin", 100, 100, 120, 120, 0.95),  # a false coin above the real ones
        Labeled("c", "coin", 60, 60, 80, 80, 0.3),
    ]
    labels = ["apple", "pear", "coin"]
    images = ["a", "b", "c"]
    draws = np.array([[1, 1, 1], [2, 0, 1], [0, 3, 0], [0, 0, 2], [1, 2, 0]], dtype=float)
    got = resampled_map50(preds, truths, labels, images, draws)
    assert got[0] == pytest.approx(mean_ap(preds, truths, labels)["map50"])
    for row, value in zip(draws, got):
        drawn_preds = [p for image, n in zip(images, row) for p in duplicated(preds, int(n), image)]
        drawn_truths = [t for image, n in zip(images, row) for t in duplicated(truths, int(n), image)]
        assert value == pytest.approx(mean_ap(drawn_preds, drawn_truths, labels)["map50"])
