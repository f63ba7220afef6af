import math

import numpy as np
import pytest

from training.data.ecustfd import UNBOXED_FOOD, ManifestError, build_manifest, parse_photo_name, read_density
from training.inference.labels import CLASSES, FOOD_TYPES


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("apple001S(1)", ("apple001", "apple", "S", 1)),
        ("fired_dough_twist007T(12)", ("fired_dough_twist007", "fired_dough_twist", "T", 12)),
        ("egg002s(3)", ("egg002", "egg", "S", 3)),  # the one lower-case view letter upstream
        ("mix014T(4)", ("mix014", "mix", "T", 4)),
    ],
)
def test_photo_names(stem, expected):
    name = parse_photo_name(stem)
    assert (name.item_id, name.item_type, name.view, name.shot) == expected


@pytest.mark.parametrize(
    ("stem", "message"), [("pizza001S(1)", "unknown food type 'pizza'"), ("apple001X(1)", "does not follow")]
)
def test_bad_photo_names(stem, message):
    with pytest.raises(ManifestError, match=message):
        parse_photo_name(stem)


def test_classes():
    assert len(FOOD_TYPES) == 19 and CLASSES[-1] == "coin" and len(set(CLASSES)) == 20


def test_density_table(ecustfd_dir):
    table = read_density(ecustfd_dir / "density.xls")
    assert len(table) == 174 and table["item_id"].nunique() == 160
    apple = table.set_index(["item_id", "food"]).loc[("apple001", "apple")]
    assert apple["weight_g"] == pytest.approx(244.5) and apple["volume_ml"] == 310
    assert set(table.loc[table["item_id"] == "mix001", "food"]) == {"apple", "orange"}


def test_manifest_of_a_few_items(mini_ecustfd):
    images, objects = build_manifest(mini_ecustfd)
    assert len(images) == len(list((mini_ecustfd / "JPEGImages").iterdir()))
    assert set(images["item_id"]) == {
        "apple001",
        "apple002",
        "apple003",
        "banana001",
        "banana002",
        "banana003",
        "grape001",
        "grape002",
        "egg002",
        "mix001",
        "mix002",
    }
    mix = images[images["item_type"] == "mix"]
    assert (mix["n_foods"] == 2).all()
    no_coin = images.loc[images["coin_xmin"].isna(), "image"].tolist()
    assert no_coin == ["mix002T(2)"]
    foods = objects[objects["label"] != "coin"]
    assert not foods["weight_g"].isna().any()
    assert objects.loc[objects["label"] == "coin", "weight_g"].isna().all()
    mix_weights = foods[foods["item_id"] == "mix001"].groupby("label")["weight_g"].first().to_dict()
    assert mix_weights == {"apple": pytest.approx(219.0), "orange": pytest.approx(197.9)}
    assert (objects["xmax"] > objects["xmin"]).all()


def test_known_label_error_is_fixed(ecustfd_subset):
    _, objects = build_manifest(ecustfd_subset("mix012"))
    labels = objects.loc[objects["image"] == "mix012T(4)", "label"]
    assert set(labels) == {"orange", "lemon", "coin"}


def test_unknown_class_is_named(mini_ecustfd):
    path = mini_ecustfd / "Annotations" / "apple001S(1).xml"
    path.write_text(path.read_text().replace("<name>apple</name>", "<name>pizza</name>"))
    with pytest.raises(ManifestError, match=r"apple001S\(1\).xml.*'pizza'"):
        build_manifest(mini_ecustfd)


def test_missing_photo_is_named(mini_ecustfd):
    (mini_ecustfd / "JPEGImages" / "banana002T(1).JPG").unlink()
    with pytest.raises(ManifestError, match=r"banana002T\(1\).JPG is missing"):
        build_manifest(mini_ecustfd)


def test_corrupt_xml_is_named(mini_ecustfd):
    (mini_ecustfd / "Annotations" / "grape001S(1).xml").write_text("<annotation><size>")
    with pytest.raises(ManifestError, match=r"grape001S\(1\).xml: not well-formed"):
        build_manifest(mini_ecustfd)


def test_missing_density(mini_ecustfd):
    (mini_ecustfd / "density.xls").unlink()
    with pytest.raises(ManifestError, match="density table not found"):
        build_manifest(mini_ecustfd)


def test_full_manifest(ecustfd_dir):
    images, objects = build_manifest(ecustfd_dir)
    assert len(images) == 2978 - len(UNBOXED_FOOD) and images["item_id"].nunique() == 160
    assert not UNBOXED_FOOD & set(images["image"])
    assert set(objects["label"]) == set(CLASSES)
    assert {"mix002T(2)", "mix005S(4)", "doughnut006S(15)"} <= set(images.loc[images["coin_xmin"].isna(), "image"])
    repairs = images.attrs["repairs"]
    assert any(r.startswith("tomato001S(4): dropped the photo") for r in repairs)
    assert any(r.startswith("doughnut004S(15): dropped a coin box that repeats") for r in repairs)
    foods, coins = objects[objects["label"] != "coin"], objects[objects["label"] == "coin"]
    coin_area = ((coins["xmax"] - coins["xmin"]) * (coins["ymax"] - coins["ymin"])).groupby(coins["image"]).max()
    food_area = ((foods["xmax"] - foods["xmin"]) * (foods["ymax"] - foods["ymin"])).groupby(foods["image"]).min()
    assert (coin_area < food_area.reindex(coin_area.index)).all()  # after repair, every coin is smaller than the food
    assert not math.isnan(objects.loc[objects["label"] == "apple", "weight_g"].min())
    # The rule that found UNBOXED_FOOD: a food box barely bigger than the coin, right beside it. None is left.
    boxed = foods.merge(coins, on="image", suffixes=("", "_coin"))
    coin_side = np.maximum(boxed["xmax_coin"] - boxed["xmin_coin"], boxed["ymax_coin"] - boxed["ymin_coin"])
    area = lambda s="": (boxed["xmax" + s] - boxed["xmin" + s]) * (boxed["ymax" + s] - boxed["ymin" + s])  # noqa: E731
    distance = (
        np.hypot(
            (boxed["xmin"] + boxed["xmax"] - boxed["xmin_coin"] - boxed["xmax_coin"]) / 2,
            (boxed["ymin"] + boxed["ymax"] - boxed["ymin_coin"] - boxed["ymax_coin"]) / 2,
        )
        / coin_side
    )
    assert boxed[(area() < 2.5 * area("_coin")) & (distance < 3)]["image"].tolist() == []


def _objects(*boxes):
    from training.data.voc import VocObject
    from training.inference.boxes import Box

    return [VocObject(label, Box(*xyxy)) for label, xyxy in boxes]


def test_coin_repairs():
    from training.data.ecustfd import _repair_coin

    repairs = []
    swapped = _repair_coin("t", _objects(("coin", (0, 0, 200, 200)), ("tomato", (300, 300, 340, 340))), repairs)
    assert [(o.label, o.box.xmax) for o in swapped] == [("tomato", 200), ("coin", 340)]
    duplicate = _repair_coin("d", _objects(("doughnut", (0, 0, 200, 100)), ("coin", (1, 0, 200, 100))), repairs)
    assert [o.label for o in duplicate] == ["doughnut"]
    stray = _repair_coin("s", _objects(("egg", (0, 0, 200, 100)), ("coin", (5, 5, 7, 8))), repairs)
    assert [o.label for o in stray] == ["egg"]
    fine = _objects(("apple", (0, 0, 200, 200)), ("coin", (300, 300, 340, 340)))
    assert _repair_coin("f", fine, repairs) == fine
    assert len(repairs) == 3 and repairs[0] == "t: swapped the labels of the coin and the tomato"
