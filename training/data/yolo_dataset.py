"""Pascal-VOC pixel boxes ↔ YOLO normalised labels, and the YOLO dataset folder ultralytics trains on."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from training.data.splits import SPLITS
from training.files import YOLO_DATA_FILE
from training.inference.boxes import Box


def box_to_yolo(box: Box, width: int, height: int) -> tuple[float, float, float, float]:
    """Pixel box → (x_center, y_center, width, height), each a fraction of the image size."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height} is not positive")
    if box.width <= 0 or box.height <= 0:
        raise ValueError(f"box {box} has no area")
    if box.xmin < 0 or box.ymin < 0 or box.xmax > width or box.ymax > height:
        raise ValueError(f"box {box} lies outside the {width}x{height} image")
    return (
        (box.xmin + box.xmax) / 2 / width,
        (box.ymin + box.ymax) / 2 / height,
        box.width / width,
        box.height / height,
    )


def yolo_to_box(xc: float, yc: float, w: float, h: float, width: int, height: int) -> Box:
    """Inverse of `box_to_yolo`."""
    return Box((xc - w / 2) * width, (yc - h / 2) * height, (xc + w / 2) * width, (yc + h / 2) * height)


def write_yolo_dataset(
    images: pd.DataFrame,
    objects: pd.DataFrame,
    *,
    raw_root: Path,
    out: Path,
    class_names: Sequence[str],
    image_mode: str = "copy",
) -> Path:
    """Write `out/images/<split>/`, `out/labels/<split>/` and `out/data.yaml`.

    `images` needs columns image, image_path, width, height, split; `objects` needs image, label,
    xmin..ymax. data.yaml has no `path` key: ultralytics then resolves the split folders next to the
    yaml file wherever the dataset is moved.

    Returns:
        The path of data.yaml.
    """
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(objects["label"]) - set(index))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {list(class_names)}")
    by_image = {name: group for name, group in objects.groupby("image")}
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for row in images.itertuples(index=False):
        source = raw_root / row.image_path
        target = out / "images" / row.split / f"{row.image}{source.suffix.lower()}"
        if image_mode == "symlink":
            os.symlink(os.path.relpath(source.resolve(), target.parent.resolve()), target)
        elif image_mode == "copy":
            shutil.copyfile(source, target)
        else:
            raise ValueError(f"image_mode must be 'copy' or 'symlink', not {image_mode!r}")
        lines = []
        for obj in by_image.get(row.image, pd.DataFrame()).itertuples(index=False):
            xc, yc, w, h = box_to_yolo(Box(obj.xmin, obj.ymin, obj.xmax, obj.ymax), row.width, row.height)
            lines.append(f"{index[obj.label]} {xc:.6f} {yc:.6f} {w:.6f} {h:.6f}")
        (out / "labels" / row.split / f"{row.image}.txt").write_text("\n".join(lines) + "\n")
    data_yaml = out / YOLO_DATA_FILE
    data_yaml.write_text(
        yaml.safe_dump(
            {
                "train": "images/train",
                "val": "images/val",
                "test": "images/test",
                "names": dict(enumerate(class_names)),
            },
            sort_keys=False,
        )
    )
    return data_yaml
