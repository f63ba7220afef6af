import pandas as pd
import pytest
import yaml

from training.data.ecustfd import build_manifest
from training.data.yolo_dataset import box_to_yolo, write_yolo_dataset, yolo_to_box
from training.inference.boxes import Box
from training.inference.labels import CLASSES


@pytest.mark.parametrize("box", [Box(0, 0, 816, 612), Box(10.5, 20, 30, 400), Box(300, 1, 815, 2)])
def test_round_trip(box):
    back = yolo_to_box(*box_to_yolo(box, 816, 612), 816, 612)
    for a, b in zip((back.xmin, back.ymin, back.xmax, back.ymax), (box.xmin, box.ymin, box.xmax, box.ymax)):
        assert a == pytest.approx(b)


def test_normalised_values():
    assert box_to_yolo(Box(0, 0, 50, 100), 100, 200) == (0.25, 0.25, 0.5, 0.5)


@pytest.mark.parametrize(
    ("box", "size", "message"),
    [
        (Box(0, 0, 120, 10), (100, 100), "outside"),
        (Box(5, 5, 5, 10), (100, 100), "no area"),
        (Box(0, 0, 1, 1), (0, 100), "not positive"),
    ],
)
def test_bad_boxes(box, size, message):
    with pytest.raises(ValueError, match=message):
        box_to_yolo(box, *size)


def test_writes_dataset(mini_ecustfd, tmp_path):
    images, objects = build_manifest(mini_ecustfd)
    images["split"] = ["train", "val", "test"] * (len(images) // 3) + ["train"] * (len(images) % 3)
    out = tmp_path / "yolo"
    data_yaml = write_yolo_dataset(images, objects, raw_root=mini_ecustfd, out=out, class_names=CLASSES)
    spec = yaml.safe_load(data_yaml.read_text())
    assert spec["names"][19] == "coin" and spec["train"] == "images/train"
    row = images.iloc[4]
    label_file = out / "labels" / row["split"] / f"{row['image']}.txt"
    lines = [line.split() for line in label_file.read_text().splitlines()]
    expected = objects[objects["image"] == row["image"]]
    assert [CLASSES[int(parts[0])] for parts in lines] == expected["label"].tolist()
    assert all(0 < float(v) <= 1 for parts in lines for v in parts[1:])
    assert (out / "images" / row["split"] / f"{row['image']}.jpg").stat().st_size > 0
    assert sum(1 for _ in (out / "images").rglob("*.jpg")) == len(images)


def test_unknown_label_rejected(tmp_path):
    objects = pd.DataFrame([{"image": "a", "label": "pizza", "xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1}])
    images = pd.DataFrame([{"image": "a", "image_path": "a.jpg", "width": 2, "height": 2, "split": "train"}])
    with pytest.raises(ValueError, match="pizza"):
        write_yolo_dataset(images, objects, raw_root=tmp_path, out=tmp_path / "y", class_names=CLASSES)
