import pandas as pd
import pytest

from training.data.splits import SplitError, assert_no_leakage, split_items


def items(counts: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{kind}{i:03d}", kind) for kind, n in counts.items() for i in range(1, n + 1)]
    return pd.DataFrame(rows, columns=["item_id", "item_type"])


COUNTS = {"apple": 19, "banana": 15, "grape": 2, "lemon": 4, "solo": 1, "mix": 14}


def test_every_item_assigned_once_and_strata_covered():
    table = items(COUNTS)
    splits = split_items(table, val_fraction=0.15, test_fraction=0.15, seed=1)
    assert set(splits.index) == set(table["item_id"])
    joined = table.set_index("item_id").join(splits)
    for kind, n in COUNTS.items():
        present = set(joined.loc[joined["item_type"] == kind, "split"])
        if n >= 3:
            assert present == {"train", "val", "test"}, kind
    assert set(joined.loc[joined["item_type"] == "grape", "split"]) == {"train", "test"}
    assert set(joined.loc[joined["item_type"] == "solo", "split"]) == {"train"}
    assert (splits == "train").sum() > (splits == "test").sum()


def test_seeded_and_reproducible():
    table = items(COUNTS)
    a = split_items(table, val_fraction=0.15, test_fraction=0.15, seed=7)
    b = split_items(table.sample(frac=1, random_state=3), val_fraction=0.15, test_fraction=0.15, seed=7)
    c = split_items(table, val_fraction=0.15, test_fraction=0.15, seed=8)
    assert a.sort_index().equals(b.sort_index())
    assert not a.sort_index().equals(c.sort_index())


def test_fractions_that_leave_no_training_data():
    with pytest.raises(SplitError, match="leaves nothing"):
        split_items(items(COUNTS), val_fraction=0.5, test_fraction=0.5, seed=0)


def test_duplicate_items_rejected():
    table = pd.concat([items({"apple": 3}), items({"apple": 1})])
    with pytest.raises(SplitError, match="apple001"):
        split_items(table, val_fraction=0.2, test_fraction=0.2, seed=0)


def test_leakage_detected():
    photos = pd.DataFrame({"item_id": ["apple001", "apple001", "apple002"], "split": ["train", "test", "val"]})
    with pytest.raises(SplitError, match="apple001"):
        assert_no_leakage(photos)
    assert_no_leakage(photos.iloc[1:])
