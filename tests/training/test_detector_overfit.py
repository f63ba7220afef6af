"""Overfit smoke test: the 2-class localiser, trained as train_detector trains it, memorises a few real photos.

Built from the shared ECUSTFD copy through the library (manifest → YOLO dataset → food/coin view), so it
runs on a clean clone with an empty data/. Everything ultralytics writes stays under tmp_path.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from training.data.ecustfd import build_manifest
from training.data.yolo_dataset import write_yolo_dataset
from training.detector.fit import localiser_dataset, train_localiser
from training.inference.boxes import iou
from training.inference.labels import CLASSES, COIN
from training.inference.localiser import FOOD, Localiser

ITEM = "apple001"  # 4 photos (2 side, 2 top), each one apple and one coin
IMGSZ = 128
REPEAT = 10  # each photo 10 times per epoch: 10 optimiser steps an epoch instead of 1

# Augmentation off and one optimiser step per batch (nbs = batch): the point is to memorise.
# Why ~200 steps: ultralytics' BatchNorm momentum is 0.03, so the running statistics that inference uses
# lag the batch statistics; at ~100 steps training loss is low but eval-mode outputs are still noise.
SETTINGS = {
    "model": "yolov8n.yaml",
    "imgsz": IMGSZ,
    "epochs": 20,
    "batch": 4,
    "nbs": 4,
    "workers": 0,
    "warmup_epochs": 0.0,
    "close_mosaic": 0,
    "val": False,  # ultralytics still validates once, after the last epoch
    "amp": False,
    "mosaic": 0.0,
    "fliplr": 0.0,
    "scale": 0.0,
    "translate": 0.0,
    "hsv_h": 0.0,
    "hsv_s": 0.0,
    "hsv_v": 0.0,
}


def total_loss(row: dict) -> float:
    return row["train/box_loss"] + row["train/cls_loss"] + row["train/dfl_loss"]


@pytest.mark.slow
def test_localiser_overfits_a_few_training_photos(ecustfd_subset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLATE_CACHE_DIR", str(tmp_path / "cache"))
    raw = ecustfd_subset(ITEM)
    images, objects = build_manifest(raw)
    assert len(images) == 4, f"expected the 4 photos of {ITEM}, got {images['image'].tolist()}"
    images["split"] = "train"
    yolo = write_yolo_dataset(images, objects, raw_root=raw, out=tmp_path / "yolo", class_names=CLASSES).parent
    data_yaml = localiser_dataset(yolo, tmp_path / "localiser")

    # Train on the photos repeated, validate on the same photos once each.
    photos = sorted(str(p) for p in (tmp_path / "localiser" / "images" / "train").iterdir())
    (tmp_path / "localiser" / "train.txt").write_text("\n".join(photos * REPEAT) + "\n")
    spec = yaml.safe_load(data_yaml.read_text())
    data_yaml.write_text(yaml.safe_dump({**spec, "train": "train.txt", "val": "images/train"}))

    best, history = train_localiser(data_yaml, tmp_path / "runs", SETTINGS, seed=0)

    assert len(history) == SETTINGS["epochs"]
    first, last = total_loss(history[0]), total_loss(history[-1])
    assert last < 0.5 * first, f"training loss went from {first:.3f} to only {last:.3f}"

    photo = images.iloc[0]
    truth = objects[(objects["image"] == photo["image"]) & (objects["label"] != COIN)]
    truth_box = truth[["xmin", "ymin", "xmax", "ymax"]].to_numpy(dtype=float)[0]
    # conf has no default (the served floor is params register_detector.conf): 0.05, the floor this check always had
    detections = Localiser(best, imgsz=IMGSZ, conf=0.05)([Image.open(raw / photo["image_path"]).convert("RGB")])[0]
    foods = [d for d in detections if d.label == FOOD]
    assert foods, f"no food box on training photo {photo['image']}: {detections}"
    overlap = iou(truth_box, np.array([[d.xmin, d.ymin, d.xmax, d.ymax] for d in foods])).max()
    assert overlap >= 0.5, f"best food box overlaps the apple by IoU {overlap:.2f}: {foods}"
