"""Detection metrics on held-out photos: AP/mAP (VOC all-point), food top-1, coin recall, confusion counts.

Food top-1 comes two ways. The headline (`match_one_to_one`) scores the boxes the server lists, each standing
for one food at most, so a duplicate or a box over nothing costs. The lenient one (`food_top1`, reported as
`food_top1_any_box`) lets every box down to the localiser's floor compete for every food.
"""

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


def _ranked_hits(
    predictions: Sequence[Labeled], truths: Sequence[Labeled], label: str, threshold: float
) -> tuple[np.ndarray, list[str], Counter]:
    """`label`'s predictions, most confident first: whether each is a true positive (the first to reach a
    ground-truth box at IoU ≥ threshold) and its image; and how many ground-truth `label` boxes each image has.

    Matching never crosses images, so a photo's hits do not depend on which other photos are scored with it: a
    bootstrap reuses them, weighting each prediction by how often its photo was drawn.
    """
    gts = defaultdict(list)
    for t in truths:
        if t.label == label:
            gts[t.image].append(t.xyxy)
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
    return tp, [p.image for p in preds], Counter({k: len(v) for k, v in gt_arrays.items()})


def _interpolated_ap(tp: np.ndarray, weights: np.ndarray, n_gt: np.ndarray) -> np.ndarray:
    """VOC all-point AP of ranked hits `tp` [P], each counted `weights` [R, P] times, over `n_gt` [R] truths."""
    cum_tp = np.cumsum(weights * tp, axis=1)
    cum_n = np.cumsum(weights, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = cum_tp / n_gt[:, None]
        precision = np.where(cum_n > 0, cum_tp / np.maximum(cum_n, 1e-12), 0.0)
    rows = len(weights)
    recall = np.concatenate([np.zeros((rows, 1)), recall, np.ones((rows, 1))], axis=1)
    precision = np.concatenate([np.ones((rows, 1)), precision, np.zeros((rows, 1))], axis=1)
    precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    # where recall does not move the step is 0: the sum is over the points where it does
    return np.sum(np.diff(recall, axis=1) * precision[:, 1:], axis=1)


def average_precision(predictions: Sequence[Labeled], truths: Sequence[Labeled], label: str, threshold: float) -> float:
    """VOC all-point interpolated AP of one class; NaN when the class has no ground truth."""
    tp, _, gt_counts = _ranked_hits(predictions, truths, label, threshold)
    n_gt = sum(gt_counts.values())
    if n_gt == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    return float(_interpolated_ap(tp, np.ones((1, len(tp))), np.array([float(n_gt)]))[0])


def resampled_map50(
    predictions: Sequence[Labeled],
    truths: Sequence[Labeled],
    labels: Sequence[str],
    images: Sequence[str],
    image_weights: np.ndarray,
) -> np.ndarray:
    """mAP50 of each resampled set of photos: photo `images[k]` counted `image_weights[r, k]` times in resample r.

    The same computation as `mean_ap(...)["map50"]` on the photos repeated (a resample's mean is over the classes
    it has ground truth of); NaN for a resample without any.
    """
    column = {image: k for k, image in enumerate(images)}
    image_weights = np.asarray(image_weights, dtype=np.float64)
    per_class = []
    for label in labels:
        tp, pred_images, gt_counts = _ranked_hits(predictions, truths, label, IOU_THRESHOLDS[0])
        if not gt_counts:
            continue
        gt = np.zeros(len(images))
        for image, n in gt_counts.items():
            gt[column[image]] = n
        n_gt = image_weights @ gt
        if len(tp):
            weights = image_weights[:, [column[image] for image in pred_images]]
            ap = _interpolated_ap(tp, weights, np.maximum(n_gt, 1e-12))
        else:
            ap = np.zeros(len(image_weights))
        per_class.append(np.where(n_gt > 0, ap, np.nan))
    if not per_class:
        return np.zeros(len(image_weights))
    stacked = np.stack(per_class)
    present = ~np.isnan(stacked)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present.any(axis=0), np.nansum(stacked, axis=0) / present.sum(axis=0), np.nan)


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
    """Lenient top-1: share of ground-truth foods whose best-overlapping food detection (IoU ≥ threshold) has the
    right class, any number of foods sharing one box and the other boxes costing nothing.

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


@dataclass(frozen=True)
class OneToOne:
    """Served boxes matched to ground-truth foods, one box per food at most.

    predicted: for each truth, the name of the box that stands for it, MISSED when none does.
    false: the boxes that stand for no truth (a duplicate, a partial box, a food that is not there).
    """

    predicted: list[str]
    false: list[Labeled]

    def correct(self, truths: Sequence[Labeled]) -> np.ndarray:
        """Per truth: found and named right."""
        return np.array([p == t.label for p, t in zip(self.predicted, truths)], dtype=bool)

    def confusion(self, truths: Sequence[Labeled]) -> Counter:
        return Counter((t.label, p) for t, p in zip(truths, self.predicted))


def match_one_to_one(served: Sequence[Labeled], food_truths: Sequence[Labeled], threshold: float = 0.5) -> OneToOne:
    """Greedy one-to-one matching by confidence, whatever the names: each served box, most confident first,
    takes the unmatched truth of its photo it overlaps most, if that IoU reaches `threshold`.

    A truth is then right only if its box has its name; a second box on a food already taken, or a box over
    nothing, is false. `served` should be what the server lists (`training.inference.plate.served_foods`).
    """
    by_image: dict[str, list[int]] = defaultdict(list)
    for k, t in enumerate(food_truths):
        by_image[t.image].append(k)
    taken: dict[int, Labeled] = {}
    false = []
    for box in sorted(served, key=lambda b: -b.score):
        free = [k for k in by_image.get(box.image, []) if k not in taken]
        if free:
            overlaps = iou(box.xyxy, np.stack([food_truths[k].xyxy for k in free]))
            j = int(np.argmax(overlaps))
            if overlaps[j] >= threshold:
                taken[free[j]] = box
                continue
        false.append(box)
    return OneToOne([taken[k].label if k in taken else MISSED for k in range(len(food_truths))], false)
