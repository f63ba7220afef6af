"""A small real nutrition table: rows of USDA SR28 (public domain) as the `nutrition_table` stage builds them,
kept in tests/usda_subset.json, so tests never need data/ (absent in a clean clone). Shared by the nutrition
tests and the bot's (tests/bot/conftest.py makes fixtures of it)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nutrition import NutritionTable

SUBSET = Path(__file__).with_name("usda_subset.json")


def subset_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    doc = json.loads(SUBSET.read_text())
    return tuple(
        pd.DataFrame(doc[name], columns=doc[f"{column}_columns"])
        for name, column in (("foods", "food"), ("portions", "portion"), ("ecustfd", "ecustfd"))
    )


def subset_table() -> NutritionTable:
    return NutritionTable(*subset_frames())


def write_subset_tables(directory: Path) -> Path:
    """The three parquet files `NutritionTable.load` reads, from the subset."""
    directory.mkdir(parents=True, exist_ok=True)
    for frame, name in zip(subset_frames(), ("foods", "portions", "ecustfd_foods"), strict=True):
        frame.to_parquet(directory / f"{name}.parquet", index=False)
    return directory
