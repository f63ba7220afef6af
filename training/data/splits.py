"""Train/val/test split by food item, never by photo: all photos of one apple land in the same split."""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


class SplitError(ValueError):
    """The split is impossible with these fractions, or it leaks items across splits."""


def split_items(items: pd.DataFrame, *, val_fraction: float, test_fraction: float, seed: int) -> pd.Series:
    """Assign each item to train, val or test, stratified by `item_type`.

    Args:
        items: one row per item with columns `item_id` and `item_type` (`mix` items form their own
            stratum and stay whole).
        val_fraction: share of each stratum's items for validation.
        test_fraction: share of each stratum's items for test.
        seed: makes the assignment reproducible.

    Returns:
        A Series indexed by item_id with values in SPLITS. Every stratum with at least three items has
        at least one item in each split; a stratum of two gives one to train and one to test; a single
        item goes to train.
    """
    if val_fraction + test_fraction >= 1:
        raise SplitError(f"val_fraction + test_fraction = {val_fraction + test_fraction} leaves nothing to train")
    if items["item_id"].duplicated().any():
        raise SplitError(f"items listed twice: {items.loc[items['item_id'].duplicated(), 'item_id'].tolist()}")
    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {}
    for _, group in sorted(items.groupby("item_type"), key=lambda kv: kv[0]):
        ids = sorted(group["item_id"])
        rng.shuffle(ids)
        n = len(ids)
        if n >= 3:
            n_test = max(1, round(n * test_fraction))
            n_val = max(1, round(n * val_fraction))
        else:
            n_test, n_val = n - 1, 0
        for i, item in enumerate(ids):
            assignment[item] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return pd.Series(assignment, name="split").rename_axis("item_id")


def assert_no_leakage(images: pd.DataFrame) -> None:
    """Raise SplitError if any item's photos sit in more than one split."""
    per_item = images.groupby("item_id")["split"].nunique()
    leaked = per_item[per_item > 1].index.tolist()
    if leaked:
        raise SplitError(f"items in more than one split: {leaked}")
