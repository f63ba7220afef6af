"""Leave-foods-out evaluation pieces and the ImageNet food map of data/foods.yaml, checked against the real SR28."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from training.inference.naming import UNKNOWN, Thresholds
from training.openset.evaluate import auroc, choose_thresholds, food_folds, imagenet_precision, outcomes
from training.openset.imagenet_foods import FoodMapError, resolve_imagenet_foods


def test_folds_hide_every_food_exactly_once_and_are_seeded():
    foods = [f"food{k}" for k in range(19)]
    folds = food_folds(foods, 5, seed=0)
    assert sorted(f for fold in folds for f in fold) == sorted(foods)
    assert sorted(len(fold) for fold in folds) == [3, 4, 4, 4, 4]
    assert folds == food_folds(list(reversed(foods)), 5, seed=0)
    assert folds != food_folds(foods, 5, seed=1)
    with pytest.raises(ValueError, match="folds"):
        food_folds(foods[:3], 5, seed=0)


def test_auroc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    score, positive = rng.normal(size=200).round(1), rng.random(200) < 0.3  # rounded: ties count half
    assert auroc(score, positive) == pytest.approx(roc_auc_score(positive, score))
    assert np.isnan(auroc(score, np.ones(200, dtype=bool)))


def _rows(**columns) -> pd.DataFrame:
    base = {"item_id": [f"i{k}" for k in range(len(columns["label"]))], "fold": 0, "split": "val"}
    return pd.DataFrame({**base, **columns})


def test_outcomes_count_unknown_and_right_names_alike_and_wrong_names_against():
    rows = _rows(
        label=["apple", "pizza", "pizza", "lemon", "egg"],
        unknown=[False, True, True, True, False],
        predicted=["apple", "bread", "bread", "orange", "egg"],
        top_probability=[0.99, 0.4, 0.99, 0.5, 0.3],
        nearest_similarity=[0.9, 0.1, 0.9, 0.2, 0.2],
        imagenet_key=["apple", "pizza", "pizza", "lemon", "bagel"],
        imagenet_probability=[0.9, 0.99, 0.99, 0.3, 0.99],
    )
    point = Thresholds(known_score=0.0, imagenet_probability=0.9, knn_weight=1.0)
    table = outcomes(rows, point)
    # row 1: abstained, ImageNet right; row 2: accepted as bread (wrong); row 3: abstained, ImageNet too weak
    assert table["unknown_ok"].tolist()[1:4] == [1.0, 0.0, 1.0]
    assert table["unknown_named_wrong"].tolist()[1:4] == [0.0, 1.0, 0.0]
    # row 4: a known egg rejected, then misnamed a bagel by ImageNet
    assert table["known_rejected"].tolist()[::4] == [0.0, 1.0] and table["known_top1"].tolist()[::4] == [1.0, 0.0]
    closed = outcomes(rows, None)
    assert closed["unknown_ok"].dropna().sum() == 0 and closed["known_rejected"].dropna().sum() == 0
    never = outcomes(rows, Thresholds(0.0, None, 1.0))
    assert never["unknown_answered_unknown"].tolist()[1:4] == [1.0, 0.0, 1.0]


def _val(n_known=200, n_unknown=100, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unknown = np.r_[np.zeros(n_known, bool), np.ones(n_unknown, bool)]
    top = np.where(unknown, rng.uniform(0.3, 0.9, unknown.size), rng.uniform(0.6, 1.0, unknown.size))
    label = np.where(unknown, "lemon", "apple")
    return _rows(
        label=label.tolist(),
        unknown=unknown,
        predicted=["apple"] * unknown.size,
        top_probability=top,
        nearest_similarity=rng.uniform(0, 1, unknown.size),
        imagenet_key=np.where(rng.random(unknown.size) < 0.8, label, "pizza").tolist(),
        imagenet_probability=rng.uniform(0, 1, unknown.size),
    )


@pytest.mark.parametrize("budget", [0.0, 0.02, 0.1])
def test_the_known_threshold_keeps_within_the_rejection_budget(budget):
    val = _val()
    chosen, table, _ = choose_thresholds(val, [1.0, 0.0], [0.5, 0.9], budget, min_precision=0.5)
    assert (table["known_rejected"] <= budget + 1e-9).all()
    assert table["chosen"].sum() == 1 and chosen.knn_weight == table.loc[table["chosen"], "knn_weight"].item()
    assert chosen.knn_weight in (1.0, 0.0)


def test_a_larger_budget_rejects_more_and_catches_more():
    val = _val()
    tight, _, _ = choose_thresholds(val, [0.0], [0.9], 0.01, min_precision=0.5)
    loose, _, _ = choose_thresholds(val, [0.0], [0.9], 0.2, min_precision=0.5)
    assert loose.known_score > tight.known_score
    assert (
        outcomes(val, loose)["unknown_answered_unknown"].mean()
        > outcomes(val, tight)["unknown_answered_unknown"].mean()
    )


def test_a_budget_on_named_right_crops_lets_misnamed_knowns_go():
    val = _val()
    misnamed = ~val["unknown"] & (val["top_probability"] < 0.7)  # the head's least sure known crops, misnamed
    val.loc[misnamed, "predicted"] = "pear"
    every, _, _ = choose_thresholds(val, [0.0], [0.9], 0.02, min_precision=0.5)
    right, table, _ = choose_thresholds(val, [0.0], [0.9], 0.02, min_precision=0.5, budget_counts="named_right")
    assert right.known_score > every.known_score
    assert table["known_wrongly_rejected"].item() <= 0.02 < table["known_rejected"].item()
    figures = outcomes(val, right)
    assert figures.loc[misnamed.to_numpy(), "known_rejected"].mean() == 1.0
    with pytest.raises(ValueError, match="budget_counts"):
        choose_thresholds(val, [0.0], [0.9], 0.02, min_precision=0.5, budget_counts="some")


def test_the_imagenet_threshold_is_the_lowest_precise_enough_or_none():
    val = _val()
    table = imagenet_precision(val, [0.9, 0.1, 0.5])
    assert table["imagenet_probability"].tolist() == [0.1, 0.5, 0.9]
    assert ((table["imagenet_precision"] > 0.7) & (table["imagenet_precision"] < 0.9)).all()  # 80 % named right
    assert choose_thresholds(val, [0.0], [0.9, 0.1, 0.5], 0.02, min_precision=0.7)[0].imagenet_probability == 0.1
    assert choose_thresholds(val, [0.0], [0.9, 0.1, 0.5], 0.02, min_precision=0.95)[0].imagenet_probability is None


def test_choosing_needs_known_and_unknown_crops():
    val = _val()
    with pytest.raises(ValueError, match="both known and unknown"):
        choose_thresholds(val[~val["unknown"]], [0.0], [0.9], 0.02, min_precision=0.5)


def test_an_answer_never_says_unknown_for_a_named_crop():
    val = _val()
    table = outcomes(val, Thresholds(-1e9, None, 0.0))  # the head accepts everything
    assert table["known_answered_unknown"].dropna().sum() == 0 and UNKNOWN not in val["predicted"].tolist()


# The reviewed map, against the real SR28 (data/raw/usda_sr28, `dvc repro fetch_usda`) and the real ImageNet names.


@pytest.fixture(scope="module")
def real_sr28(repo_root):
    """The pipeline's verified SR28 copy; absent on a clone that has not run `dvc repro fetch_usda` (or `dvc pull`)."""
    from training.data.usda_sr28 import build_tables

    raw = repo_root / "data" / "raw" / "usda_sr28"
    if not (raw / "FOOD_DES.txt").is_file():
        pytest.skip(f"real SR28 not found at {raw} (run `dvc repro fetch_usda`)")
    return build_tables(raw)


@pytest.fixture(scope="module")
def imagenet_section(repo_root) -> dict:
    return yaml.safe_load((repo_root / "data" / "foods.yaml").read_text())["imagenet"]


def test_every_imagenet_food_resolves_to_a_real_sr28_food_and_portion(real_sr28, imagenet_section, repo_root):
    from nutrition.usda_table import NutritionTable

    foods, portions = real_sr28
    ecustfd = pd.DataFrame({"food": [], "ndb": [], "display": [], "edible_fraction": []})
    table = NutritionTable(foods, portions, ecustfd)
    resolved = resolve_imagenet_foods(repo_root / "data" / "foods.yaml", table)
    assert len(resolved) == len(imagenet_section) >= 40
    described = foods.set_index("ndb")["description"]
    for food in resolved:
        if food.ecustfd:
            continue
        assert food.ndb in described.index, food
        assert food.serving_g and 0 < food.serving_g < 1500, food
        unit = food.portion.split(" ", 1)[1]
        assert ((portions["ndb"] == food.ndb) & (portions["unit"] == unit)).any(), food


def test_the_imagenet_indices_name_those_classes(imagenet_section):
    import training.inference.torch_compat  # noqa: F401 — before torchvision
    from torchvision.models import MobileNet_V2_Weights  # isort: skip

    categories = MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    for key, entry in imagenet_section.items():
        assert categories[entry["index"]] == entry["imagenet"], key


def test_imagenet_foods_of_the_19_are_answered_by_their_ecustfd_name(imagenet_section, repo_root):
    foods = yaml.safe_load((repo_root / "data" / "foods.yaml").read_text())["foods"]
    same = {key for key, entry in imagenet_section.items() if entry.get("ecustfd")}
    assert same == {"apple", "banana", "bread", "lemon", "orange"} and same <= set(foods)
    assert {imagenet_section[k]["imagenet"] for k in same} == {
        "Granny Smith",
        "banana",
        "French loaf",
        "lemon",
        "orange",
    }


def test_a_portion_sr28_lacks_is_refused(tmp_path, usda_table):
    bad = tmp_path / "foods.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "foods": {"apple": {"ndb": "09003", "display": "Apple"}},
                "imagenet": {"broccoli": {"imagenet": "broccoli", "index": 937, "ndb": "11090", "portion": "slice"}},
            }
        )
    )
    with pytest.raises(FoodMapError, match="no portion 'slice'"):
        resolve_imagenet_foods(bad, usda_table)
    good = yaml.safe_load(bad.read_text())
    good["imagenet"]["broccoli"]["portion"] = "cup chopped"
    bad.write_text(yaml.safe_dump(good))
    (broccoli,) = resolve_imagenet_foods(bad, usda_table)
    assert (broccoli.serving_g, broccoli.portion, broccoli.ndb) == (91.0, "1 cup chopped", "11090")
    good["imagenet"]["broccoli"]["ndb"] = "99999"
    bad.write_text(yaml.safe_dump(good))
    with pytest.raises(FoodMapError, match="99999"):
        resolve_imagenet_foods(bad, usda_table)
