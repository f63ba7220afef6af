"""How fast a food outside the crop head's vocabulary is learned from a few labelled photos, on ECUSTFD's
leave-foods-out folds (those of evaluate_openset).

Each food hidden in a fold is taught with k labelled photos drawn (seeded, nested: the k=3 draw holds the k=1 one)
from its train items, every crop of that food in a drawn photo kept, as the bot keeps the crop it asked about. Its
val and test crops are then named three ways, beside the fold's known foods' crops and the fold's other hidden
foods' (still unknown) crops:

- `gallery`: the nearest labelled crop by cosine of L2-normalised float16 features (bot/gallery/matching.py) names
  the crop when at least the threshold, else the namer answers;
- `gallery_unknown_only`: the same, asked only when the namer answers `unknown`, as the bot does today;
- `retrain`: the crop head refitted with the labelled crops as one more class, its open-set statistics refitted on
  the same crops, the namer's thresholds kept.

k=0 is the namer alone. Each gallery threshold is chosen on the val crops; test is only reported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.detector.fit import fit_classifier
from training.inference.naming import UNKNOWN, OpenSetStats, Thresholds
from training.openset.evaluate import SPLITS, answers

log = logging.getLogger(__name__)

GALLERY, GALLERY_UNKNOWN_ONLY, RETRAIN = "gallery", "gallery_unknown_only", "retrain"
WAYS = (GALLERY, GALLERY_UNKNOWN_ONLY, RETRAIN)
NEW, KNOWN, OTHER = "new", "known", "other_unknown"  # a scored crop's kind, for the food being taught


@dataclass(frozen=True)
class Draw:
    """The labelled crops (row positions in the features) of one taught food's draw."""

    food: str
    k: int
    repeat: int
    rows: np.ndarray


def labelled_draws(index: pd.DataFrame, food: str, ks: Sequence[int], repeats: int, seed: int) -> list[Draw]:
    """For each repeat, a seeded order of the food's train photos; the first k of them are the k-photo draw.

    Raises:
        ValueError: the food has no train photo.
    """
    mask = ((index["split"] == "train") & (index["label"] == food)).to_numpy()
    photos = np.array(sorted(index.loc[mask, "image"].unique()), dtype=object)
    if not len(photos):
        raise ValueError(f"food {food!r} has no train photo to teach it with")
    rows_of = {p: np.flatnonzero(mask & (index["image"] == p).to_numpy()) for p in photos}
    rng = np.random.default_rng([seed, *food.encode()])
    draws = []
    for repeat in range(repeats):
        order = rng.permutation(photos)
        for k in ks:
            chosen = order[: min(k, len(order))]
            rows = np.concatenate([rows_of[p] for p in chosen]) if len(chosen) else np.zeros(0, dtype=np.intp)
            draws.append(Draw(food, int(k), repeat, rows))
    return draws


def gallery_vectors(features: np.ndarray) -> np.ndarray:
    """Features as the bot's gallery compares them: unit length, through float16 (training.inference.plate
    `embedding_of`), unit length again (bot.gallery.matching)."""
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    half = unit.astype("<f2").astype(np.float64)
    return half / np.maximum(np.linalg.norm(half, axis=1, keepdims=True), 1e-12)


def fold_rows(rows: pd.DataFrame, index: pd.DataFrame, fold: int) -> pd.DataFrame:
    """One fold's rows of `score_folds`, with `row`: their position in the features (score_folds keeps the
    index order within each split)."""
    part = rows[rows["fold"] == fold].copy()
    part["row"] = np.concatenate([np.flatnonzero((index["split"] == s).to_numpy()) for s in SPLITS])
    if (index["item_id"].to_numpy()[part["row"]] != part["item_id"].to_numpy()).any():
        raise ValueError(f"fold {fold}: score_folds rows are not in the features' order")
    return part


def kinds(part: pd.DataFrame, food: str) -> np.ndarray:
    """Each row's kind while `food` is taught: the food itself, a known food, or another hidden food."""
    label = part["label"].to_numpy(dtype=object)
    return np.where(label == food, NEW, np.where(part["unknown"].to_numpy(), OTHER, KNOWN)).astype(object)


def nearest_cosine(vectors: np.ndarray, part: pd.DataFrame, draw: Draw) -> np.ndarray:
    """[rows] cosine of each scored crop to its nearest labelled crop of the draw (-inf with none)."""
    if not len(draw.rows):
        return np.full(len(part), -np.inf)
    return (vectors[part["row"].to_numpy()] @ vectors[draw.rows].T).max(axis=1)


def gallery_answers(
    namer: np.ndarray, cosine: np.ndarray, food: str | np.ndarray, threshold: float, unknown_only: bool
) -> np.ndarray:
    """The gallery's answer per row: the taught food where the nearest labelled crop is close enough (and, with
    `unknown_only`, the namer said unknown), else the namer's."""
    hit = cosine >= threshold
    if unknown_only:
        hit &= namer == UNKNOWN
    return np.where(hit, food, namer).astype(object)


def retrain_answers(
    features: np.ndarray,
    part: pd.DataFrame,
    train_rows: np.ndarray,
    train_labels: Sequence[str],
    draw: Draw,
    c: float,
    components: int,
    seed: int,
) -> pd.DataFrame:
    """The columns `answers` reads, for `part`'s crops, from a head fitted on the fold's train crops plus the draw's
    labelled crops as class `draw.food` (open-set statistics refitted on the same crops)."""
    rows = np.concatenate([train_rows, draw.rows])
    head = fit_classifier(features[rows], [*train_labels, *[draw.food] * len(draw.rows)], c, seed)
    stats = OpenSetStats.fit(head, features[rows], components)
    scored = features[part["row"].to_numpy()]
    probs = head.probabilities(scored)
    table = part[["imagenet_key", "imagenet_probability"]].copy()
    table["predicted"] = np.array(head.classes, dtype=object)[probs.argmax(axis=1)]
    table["top_probability"] = probs.max(axis=1)
    table["nearest_similarity"] = stats.nearest_similarity((scored - head.mean) / head.scale)
    return table


def score_draws(
    index: pd.DataFrame,
    features: np.ndarray,
    rows: pd.DataFrame,
    folds: list[list[str]],
    thresholds: Thresholds,
    ks: Sequence[int],
    repeats: int,
    retrain_repeats: int,
    c: float,
    components: int,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (fold, taught food, k, repeat, val or test crop of the fold): split, item, label, kind, the
    namer's answer, the nearest labelled crop's cosine and (test crops, the first `retrain_repeats` repeats) the
    retrained head's answer. k=0 (the namer alone) is scored once per food.

    `rows`: `score_folds` of the same folds (the namer's fold heads and their ImageNet opinions).
    """
    features = features.astype(np.float64)
    vectors = gallery_vectors(features)
    ks = sorted({0, *ks})
    train = (index["split"] == "train").to_numpy()
    out = []
    for f, hidden in enumerate(folds):
        part = fold_rows(rows, index, f)
        namer, _ = answers(part, thresholds)
        train_rows = np.flatnonzero(train & ~index["label"].isin(hidden).to_numpy())
        train_labels = index["label"].to_numpy(dtype=object)[train_rows].tolist()
        test = (part["split"] == "test").to_numpy()
        for food in hidden:
            kind = kinds(part, food)
            for draw in labelled_draws(index, food, ks, repeats, seed):
                if draw.k == 0 and draw.repeat:
                    continue
                frame = part[["split", "item_id", "label"]].reset_index(drop=True)
                frame["fold"], frame["food"], frame["k"], frame["repeat"] = f, food, draw.k, draw.repeat
                frame["n_labelled"] = len(draw.rows)
                frame["kind"], frame["namer"] = kind, namer
                frame["cosine"] = nearest_cosine(vectors, part, draw)
                retrain = np.full(len(part), None, dtype=object)
                if draw.k == 0:
                    retrain[:] = namer  # no new class: the fold's head is the namer's
                elif draw.repeat < retrain_repeats:
                    table = retrain_answers(features, part[test], train_rows, train_labels, draw, c, components, seed)
                    retrain[test] = answers(table, thresholds)[0]
                frame[RETRAIN] = retrain
                out.append(frame)
            log.info("fold %d: %s taught, k in %s, %d repeats", f, food, ks, repeats)
    return pd.concat(out, ignore_index=True)


def outcome_columns(
    kind: np.ndarray, label: np.ndarray, answer: np.ndarray, food: str | np.ndarray
) -> dict[str, np.ndarray]:
    """Per-row 0/1 outcomes (NaN where a row does not count for a figure); `food`: the taught food, per row or one."""

    def on(mask: np.ndarray, value: np.ndarray) -> np.ndarray:
        return np.where(mask, value.astype(float), np.nan)

    new, known, other = kind == NEW, kind == KNOWN, kind == OTHER
    return {
        "new_top1": on(new, answer == label),
        "new_answered_unknown": on(new, answer == UNKNOWN),
        "known_top1": on(known, answer == label),
        "known_rejected": on(known, answer == UNKNOWN),  # answered unknown: the person is asked
        "known_named_new": on(known, answer == food),
        "other_unknown_named_new": on(other, answer == food),
    }


def choose_gallery_threshold(
    val: pd.DataFrame,
    grid: Sequence[float],
    choose_k: int,
    known_drop_budget: float,
    unknown_budget: float,
    unknown_only: bool,
) -> tuple[float, pd.DataFrame]:
    """The gallery threshold, chosen on val rows (columns fold, food, k, repeat, kind, label, namer, cosine).

    Per grid value: val new-food top-1 at `choose_k`; the largest drop, over every k, of the known crops' top-1 below
    the namer's; the largest share, over every k, of the other hidden foods' crops given the taught food's name.
    The value with the best top-1 among those within both budgets wins (ties: the earliest); when none is, the one
    with the smallest known drop.
    """
    if choose_k not in set(val["k"]):
        raise ValueError(f"choose_k {choose_k} is not among the drawn k {sorted(set(val['k']))}")
    kind, label = val["kind"].to_numpy(), val["label"].to_numpy(dtype=object)
    namer, cosine = val["namer"].to_numpy(dtype=object), val["cosine"].to_numpy()
    base_known = float(np.mean(namer[kind == KNOWN] == label[kind == KNOWN]))
    food = val["food"].to_numpy(dtype=object)
    table = []
    for threshold in grid:
        answer = gallery_answers(namer, cosine, food, threshold, unknown_only)
        by_k = (
            pd.DataFrame(outcome_columns(kind, label, answer, food)).assign(k=val["k"].to_numpy()).groupby("k").mean()
        )
        taught = by_k.drop(index=0, errors="ignore")
        table.append(
            {
                "threshold": float(threshold),
                "val_new_top1": float(by_k.loc[choose_k, "new_top1"]),
                "val_known_top1_drop": float((base_known - taught["known_top1"]).max()),
                "val_other_unknown_named_new": float(taught["other_unknown_named_new"].max()),
            }
        )
    table = pd.DataFrame(table)
    within = (table["val_known_top1_drop"] <= known_drop_budget) & (
        table["val_other_unknown_named_new"] <= unknown_budget
    )
    if within.any():
        best = int(table["val_new_top1"].where(within, -np.inf).to_numpy().argmax())
    else:
        best = int(table["val_known_top1_drop"].to_numpy().argmin())
    table.insert(0, "chosen", table.index == best)
    table.insert(1, "within_budgets", within)
    return float(table.loc[best, "threshold"]), table
