"""Detection metrics on held-out photos: AP/mAP (VOC all-point), food top-1, coin recall, confusion counts."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training.inference.boxes import iou

IOU_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.96, 0.05), 2))
MISSED = "(missed)"


@dataclass(frozen=True)
class Labeled:
    """A box with a class; `score` is 1.0 for ground truth."""

    image: str
    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    score: float = 1.0

    @property
    def xyxy(self) -> np.ndarray:
        return np.array([self.xmin, self.ymin, self.xmax, self.ymax], dtype=np.float64)


def average_precision(predictions: Sequence[Labeled], truths: Sequence[Labeled], label: str, threshold: float) -> float:
    """VOC all-point interpolated AP of one class; NaN when the class has no ground truth."""
    gts = defaultdict(list)
    for t in truths:
        if t.label == label:
            gts[t.image].append(t.xyxy)
    n_gt = sum(len(v) for v in gts.values())
    if n_gt == 0:
        return float("nan")
    gt_arrays = {k: np.stack(v) for k, v in gts.items()}
    used = {k: np.zeros(len(v), dtype=bool) for k, v in gt_arrays.items()}
    preds = sorted((p for p in predictions if p.label == label), key=lambda p: -p.score)
    tp = np.zeros(len(preds))
    for i, p in enumerate(preds):
        if p.image not in gt_arrays:
            continue
        overlaps = iou(p.xyxy, gt_arrays[p.image])
        j = int(np.argmax(overlaps))
        if overlaps[j] >= threshold and not used[p.image][j]:
            used[p.image][j] = True
            tp[i] = 1
    if len(preds) == 0:
        return 0.0
    cum_tp = np.cumsum(tp)
    recall = cum_tp / n_gt
    precision = cum_tp / np.arange(1, len(preds) + 1)
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[1.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.where(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def mean_ap(predictions: Sequence[Labeled], truths: Sequence[Labeled], labels: Sequence[str]) -> dict:
    """mAP50, mAP50-95 and per-class AP50 / AP50-95 over the classes that have ground truth."""
    per_class = {}
    for label in labels:
        aps = [average_precision(predictions, truths, label, t) for t in IOU_THRESHOLDS]
        if not np.isnan(aps[0]):
            per_class[label] = {"ap50": aps[0], "ap50_95": float(np.mean(aps))}
    return {
        "map50": float(np.mean([v["ap50"] for v in per_class.values()])) if per_class else 0.0,
        "map50_95": float(np.mean([v["ap50_95"] for v in per_class.values()])) if per_class else 0.0,
        "per_class": per_class,
    }


def best_match(truth: Labeled, candidates: Sequence[Labeled], threshold: float) -> Labeled | None:
    """The candidate in the same image overlapping `truth` most, if that overlap reaches `threshold`."""
    same = [c for c in candidates if c.image == truth.image]
    if not same:
        return None
    overlaps = iou(truth.xyxy, np.stack([c.xyxy for c in same]))
    j = int(np.argmax(overlaps))
    return same[j] if overlaps[j] >= threshold else None


def food_top1(
    predictions: Sequence[Labeled], food_truths: Sequence[Labeled], non_food: str, threshold: float = 0.5
) -> tuple[float, Counter]:
    """Share of ground-truth foods whose best-overlapping food detection (IoU ≥ threshold) has the right class.

    A food with no such detection counts as wrong. Also returns (true, predicted) confusion counts,
    with MISSED as the prediction for unmatched foods.
    """
    foods = [p for p in predictions if p.label != non_food]
    confusion: Counter = Counter()
    correct = 0
    for truth in food_truths:
        match = best_match(truth, foods, threshold)
        predicted = match.label if match else MISSED
        confusion[(truth.label, predicted)] += 1
        correct += predicted == truth.label
    return (correct / len(food_truths) if food_truths else float("nan")), confusion


def recall(predictions: Sequence[Labeled], truths: Sequence[Labeled], label: str, threshold: float = 0.5) -> float:
    """Share of ground-truth `label` boxes matched by a `label` prediction at IoU ≥ threshold."""
    relevant = [t for t in truths if t.label == label]
    if not relevant:
        return float("nan")
    preds = [p for p in predictions if p.label == label]
    return sum(best_match(t, preds, threshold) is not None for t in relevant) / len(relevant)
