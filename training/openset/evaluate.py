"""Leave-foods-out evaluation of the open-set namer on ECUSTFD crop features, item-grouped by the prepared splits.

Each fold hides a group of foods: the crop head is refitted on the train items of the others (as train_detector
fits it) with its open-set statistics, and every val and test crop is scored; crops of the hidden foods are the
unknowns. The thresholds are chosen on the val crops pooled over folds (`choose_thresholds`); test is only reported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from training.bootstrap import ItemBootstrap, ci_key
from training.detector.fit import fit_classifier
from training.inference.naming import UNKNOWN, OpenSetStats, Thresholds, softmax

log = logging.getLogger(__name__)

SPLITS = ("val", "test")


def food_folds(foods: Sequence[str], folds: int, seed: int) -> list[list[str]]:
    """The foods, shuffled (seeded), dealt into `folds` groups: each food hidden in exactly one fold."""
    foods = sorted(set(foods))
    if folds > len(foods):
        raise ValueError(f"{folds} folds but only {len(foods)} foods")
    order = np.random.default_rng(seed).permutation(foods)
    return [sorted(str(f) for f in order[k::folds]) for k in range(folds)]


@dataclass(frozen=True)
class ImagenetOpinion:
    """The ImageNet head's best mapped food per crop: its key (an ECUSTFD name for the 19) and probability."""

    keys: list[str]
    weight: np.ndarray
    bias: np.ndarray
    index: np.ndarray

    def best(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs = softmax(features @ self.weight.T + self.bias)[:, self.index]
        best = probs.argmax(axis=1)
        return np.array(self.keys, dtype=object)[best], probs[np.arange(len(probs)), best]


def score_folds(
    index: pd.DataFrame,
    features: np.ndarray,
    folds: list[list[str]],
    c: float,
    components: int,
    imagenet: ImagenetOpinion,
    seed: int = 0,
    extra: tuple[Sequence[str], np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per (fold, val or test crop): label, item, whether unknown, the head's answer, its top probability
    and nearest-crop similarity, and the ImageNet opinion.

    `extra`: (labels, features) of further training crops (the bot's labelled examples), added to every fold's head
    and statistics as train_detector adds them, except those labelled with one of the fold's hidden foods.
    """
    features = features.astype(np.float64)
    in_key, in_prob = imagenet.best(features)
    rows = []
    for k, hidden in enumerate(folds):
        train = (index["split"] == "train").to_numpy() & ~index["label"].isin(hidden).to_numpy()
        x, y = features[train], index.loc[train, "label"].tolist()
        if extra is not None and len(extra[0]):
            keep = ~np.isin(np.asarray(extra[0], dtype=object), hidden)
            x = np.concatenate([x, np.asarray(extra[1], dtype=np.float64)[keep]])
            y = [*y, *np.asarray(extra[0], dtype=object)[keep].tolist()]
        head = fit_classifier(x, y, c, seed)
        stats = OpenSetStats.fit(head, x, components)
        for split in SPLITS:
            mask = (index["split"] == split).to_numpy()
            probs = head.probabilities(features[mask])
            standardised = (features[mask] - head.mean) / head.scale
            part = index.loc[mask, ["item_id", "label"]].reset_index(drop=True)
            part["fold"], part["split"] = k, split
            part["unknown"] = part["label"].isin(hidden).to_numpy()
            part["predicted"] = np.array(head.classes, dtype=object)[probs.argmax(axis=1)]
            part["top_probability"] = probs.max(axis=1)
            part["nearest_similarity"] = stats.nearest_similarity(standardised)
            part["imagenet_key"], part["imagenet_probability"] = in_key[mask], in_prob[mask]
            rows.append(part)
        log.info("fold %d (hidden %s): head on %d train crops", k, ", ".join(hidden), len(x))
    return pd.concat(rows, ignore_index=True)


def known_score(rows: pd.DataFrame, knn_weight: float) -> np.ndarray:
    return (
        np.log(np.maximum(rows["top_probability"].to_numpy(), 1e-12))
        + knn_weight * rows["nearest_similarity"].to_numpy()
    )


def answers(rows: pd.DataFrame, thresholds: Thresholds | None) -> tuple[np.ndarray, np.ndarray]:
    """(answer per row, whether the ECUSTFD head answered); None: the closed-set baseline (always the argmax)."""
    if thresholds is None:
        return rows["predicted"].to_numpy(dtype=object), np.ones(len(rows), dtype=bool)
    accepted = known_score(rows, thresholds.knn_weight) >= thresholds.known_score
    imagenet = (
        rows["imagenet_probability"].to_numpy() >= thresholds.imagenet_probability
        if thresholds.imagenet_probability is not None
        else np.zeros(len(rows), dtype=bool)
    )
    out = np.where(accepted, rows["predicted"], np.where(imagenet, rows["imagenet_key"], UNKNOWN))
    return out.astype(object), accepted


def outcomes(rows: pd.DataFrame, thresholds: Thresholds | None) -> pd.DataFrame:
    """Per-row 0/1 outcomes the figures average: NaN where a row does not count for a figure."""
    answer, accepted = answers(rows, thresholds)
    unknown, label = rows["unknown"].to_numpy(), rows["label"].to_numpy(dtype=object)
    right, said_unknown = answer == label, answer == UNKNOWN
    head_right = rows["predicted"].to_numpy(dtype=object) == label

    def on(mask: np.ndarray, value: np.ndarray) -> np.ndarray:
        return np.where(mask, value.astype(float), np.nan)

    return pd.DataFrame(
        {
            "unknown_ok": on(unknown, said_unknown | right),
            "unknown_answered_unknown": on(unknown, said_unknown),
            "unknown_named_right": on(unknown, right),
            "unknown_named_wrong": on(unknown, ~said_unknown & ~right),
            "known_rejected": on(~unknown, ~accepted),
            # of the known crops the closed-set head names right, the share the namer no longer does
            "known_wrongly_rejected": on(~unknown & head_right, ~accepted),
            "known_answered_unknown": on(~unknown, said_unknown),
            "known_top1": on(~unknown, right),
        }
    )


def imagenet_precision(val: pd.DataFrame, grid: Sequence[float]) -> pd.DataFrame:
    """The ImageNet second opinion on its own, per grid threshold: the share of val crops it names and how often
    that name is right (an ECUSTFD food the map holds, e.g. a lemon called `lemon`; any other name is wrong)."""
    crops = val.drop_duplicates(["item_id", "label", "imagenet_probability"]) if "fold" in val else val
    table = []
    for probability in sorted(grid):
        named = crops["imagenet_probability"].to_numpy() >= probability
        right = (crops["imagenet_key"] == crops["label"]).to_numpy()[named]
        table.append(
            {
                "imagenet_probability": float(probability),
                "imagenet_named": float(named.mean()),
                "imagenet_precision": float(right.mean()) if named.any() else float("nan"),
            }
        )
    return pd.DataFrame(table)


def choose_thresholds(
    val: pd.DataFrame,
    knn_weights: Sequence[float],
    imagenet_grid: Sequence[float],
    budget: float,
    min_precision: float,
    budget_counts: str = "known",
) -> tuple[Thresholds, pd.DataFrame, pd.DataFrame]:
    """The thresholds, chosen on the val rows.

    The ECUSTFD head: per weight, the highest score threshold that rejects at most `budget` of the known crops (of
    those it names right, with `budget_counts="named_right"`: rejecting a crop it would misname is no loss); the
    weight with the most unknown crops answered unknown or named right wins (ties: the earliest). The ImageNet second
    opinion: the lowest grid value at which its names are right at least `min_precision` of the time on the val
    crops; None (never asked) when none is. Unknown-or-right cannot choose it: for an abstained crop, `unknown` and
    a right name count alike, so that objective would never name anything.

    Returns:
        The choice, the table of every weight tried and that of every ImageNet threshold.
    """
    known = ~val["unknown"].to_numpy()
    if not known.any() or known.all():
        raise ValueError("choosing thresholds needs both known and unknown val crops")
    if budget_counts not in ("known", "named_right"):
        raise ValueError(f"budget_counts is {budget_counts!r}, not 'known' or 'named_right'")
    counted = known & (val["predicted"] == val["label"]).to_numpy() if budget_counts == "named_right" else known
    precision = imagenet_precision(val, imagenet_grid)
    good = precision[precision["imagenet_precision"] >= min_precision]
    probability = float(good["imagenet_probability"].iloc[0]) if len(good) else None
    table = []
    for weight in knn_weights:
        scores = np.sort(known_score(val[counted], weight))
        allowed = int(np.floor(budget * len(scores)))  # crops strictly below the threshold are rejected
        threshold = float(scores[allowed]) if allowed < len(scores) else float(scores[-1]) + 1.0
        point = Thresholds(known_score=threshold, imagenet_probability=probability, knn_weight=float(weight))
        table.append({**point.to_dict(), **outcomes(val, point).mean().to_dict()})
    table = pd.DataFrame(table)
    best = int(table["unknown_ok"].to_numpy().argmax())  # argmax takes the first of equal values
    table.insert(0, "chosen", table.index == best)
    row = table.loc[best]
    chosen = Thresholds(float(row["known_score"]), probability, float(row["knn_weight"]))
    return chosen, table, precision


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of `score` separating positive (known) from negative rows; NaN without both."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def figures(rows: pd.DataFrame, thresholds: Thresholds | None, bootstrap: ItemBootstrap) -> dict:
    """The open-set figures of `rows` (one fold's or all folds' test crops), each with its item-bootstrap interval."""
    table = outcomes(rows, thresholds)
    items = rows["item_id"].to_numpy()
    out: dict = {"n_known_crops": int((~rows["unknown"]).sum()), "n_unknown_crops": int(rows["unknown"].sum())}
    for name in table.columns:
        values = table[name].to_numpy()
        counted = ~np.isnan(values)
        out[name] = float(values[counted].mean()) if counted.any() else None
        out[ci_key(name)] = bootstrap.mean(values[counted], items[counted]) if counted.any() else None
    if thresholds is not None:
        score, positive = known_score(rows, thresholds.knn_weight), ~rows["unknown"].to_numpy()
        out["auroc"] = auroc(score, positive)
        out[ci_key("auroc")] = bootstrap.statistic(lambda idx: auroc(score[idx], positive[idx]), items)
        top = rows["top_probability"].to_numpy()
        out["auroc_top_probability"] = auroc(top, positive)  # max softmax alone, for comparison
    return out
