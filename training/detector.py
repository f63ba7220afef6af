"""The food localiser: ultralytics YOLO trained to find *where* foods and the reference coin are.

Which food a box holds is decided by the crop classifier (training/crop_classifier.py); on this CPU a
YOLO learns two classes far faster than twenty (see README).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from training.ecustfd import CLASSES, COIN

log = logging.getLogger(__name__)

FOOD = "food"
LOCALISER_CLASSES: tuple[str, ...] = (FOOD, COIN)
WEIGHTS_FILE = "localiser.pt"


@dataclass(frozen=True)
class Detection:
    """One box from the localiser, in pixels of the image it ran on."""

    label: str  # "food" or "coin"
    confidence: float
    xmin: float
    ymin: float
    xmax: float
    ymax: float


def localiser_dataset(yolo_dir: Path, out: Path) -> Path:
    """A two-class view (food, coin) of the prepared 20-class YOLO dataset.

    Images are symlinked, labels rewritten; returns the absolute path of its data.yaml.
    """
    coin_id = CLASSES.index(COIN)
    for images in sorted((yolo_dir / "images").iterdir()):
        split = images.name
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for image in images.iterdir():
            link = out / "images" / split / image.name
            if not link.exists():
                os.symlink(image.resolve(), link)
            source = yolo_dir / "labels" / split / f"{image.stem}.txt"
            lines = []
            for line in source.read_text().splitlines():
                cls, rest = line.split(maxsplit=1)
                lines.append(f"{1 if int(cls) == coin_id else 0} {rest}")
            (out / "labels" / split / f"{image.stem}.txt").write_text("\n".join(lines) + "\n")
    data_yaml = out / "data.yaml"
    data_yaml.write_text(
        yaml.safe_dump(
            {
                "path": str(out.resolve()),
                "train": "images/train",
                "val": "images/val",
                "test": "images/test",
                "names": dict(enumerate(LOCALISER_CLASSES)),
            },
            sort_keys=False,
        )
    )
    return data_yaml.resolve()


def train_localiser(data_yaml: Path, work_dir: Path, settings: dict, seed: int) -> tuple[Path, list[dict]]:
    """Train YOLO with ultralytics; returns the best weights (selected on val) and the per-epoch log."""
    import csv

    from training.yolo_env import load_ultralytics

    ultralytics = load_ultralytics()
    settings = dict(settings)
    model = ultralytics.YOLO(settings.pop("model"))
    model.train(
        data=str(data_yaml),
        project=str(work_dir.resolve()),
        name="train",
        exist_ok=True,
        seed=seed,
        deterministic=True,
        device="cpu",
        plots=True,
        verbose=False,
        **settings,
    )
    run_dir = work_dir / "train"
    best = run_dir / "weights" / "best.pt"
    if not best.is_file():
        raise RuntimeError(f"ultralytics finished without {best}")
    with (run_dir / "results.csv").open() as handle:
        history = [{k.strip(): float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    return best, history


class Localiser:
    """Framework-free wrapper: image in, food and coin boxes out."""

    def __init__(self, weights: Path, imgsz: int, conf: float = 0.05, iou: float = 0.6):
        from training.yolo_env import load_ultralytics

        if not Path(weights).is_file():
            raise FileNotFoundError(f"localiser weights not found: {weights}")
        self.model = load_ultralytics().YOLO(str(weights))
        self.imgsz, self.conf, self.iou = imgsz, conf, iou

    def __call__(self, images: list) -> list[list[Detection]]:
        """Detections for each image (PIL images or paths), most confident first."""
        results = self.model.predict(images, imgsz=self.imgsz, conf=self.conf, iou=self.iou, device="cpu", verbose=False)
        out = []
        for result in results:
            boxes = result.boxes
            xyxy, conf, cls = boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype(int)
            out.append(
                [
                    Detection(LOCALISER_CLASSES[c], float(p), *map(float, b))
                    for b, p, c in sorted(zip(xyxy, conf, cls), key=lambda t: -t[1])
                ]
            )
        return out


def copy_run_artifacts(run_dir: Path, out: Path) -> None:
    """Keep ultralytics' own curves and sample batches beside the weights, for people to look at."""
    for pattern in ("*.png", "*.jpg", "results.csv", "args.yaml"):
        for path in run_dir.glob(pattern):
            shutil.copy2(path, out / path.name)
