"""Train the detector's two parts on the train items: the YOLO localiser (food, coin) with ultralytics, and
the crop classifier head (which food) on MobileNetV2 features, its C chosen on the val items."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from training.files import YOLO_DATA_FILE
from training.inference.crop_classifier import CropClassifier
from training.inference.labels import CLASSES, COIN
from training.inference.localiser import LOCALISER_CLASSES

log = logging.getLogger(__name__)


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
    data_yaml = out / YOLO_DATA_FILE
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


def resolve_device(device: str) -> str:
    """The torch device to train on: `auto` is cuda:0 when torch sees a GPU, else cpu; cpu, cuda and cuda:N as asked.

    Raises:
        ValueError: a GPU was asked for and torch sees none, or the value is not one of these.
    """
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"train_detector.device is {device!r} but torch sees no GPU (use auto or cpu)")
        return "cuda:0" if device == "cuda" else device
    raise ValueError(f"train_detector.device {device!r} is not auto, cpu, cuda or cuda:N")


def train_localiser(
    data_yaml: Path, work_dir: Path, settings: dict, seed: int, device: str = "cpu"
) -> tuple[Path, list[dict]]:
    """Train YOLO with ultralytics on `device` (as `resolve_device` returns it); returns the best weights (selected
    on val) and the per-epoch log."""
    import csv

    from training.inference.yolo_env import load_ultralytics

    ultralytics = load_ultralytics()
    log.info("training the localiser on %s", device)
    settings = dict(settings)
    model = ultralytics.YOLO(settings.pop("model"))
    model.train(
        data=str(data_yaml),
        project=str(work_dir.resolve()),
        name="train",
        exist_ok=True,
        seed=seed,
        deterministic=True,
        device=device,
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


def copy_run_artifacts(run_dir: Path, out: Path) -> None:
    """Keep ultralytics' own curves and sample batches beside the weights, for people to look at."""
    for pattern in ("*.png", "*.jpg", "results.csv", "args.yaml"):
        for path in run_dir.glob(pattern):
            shutil.copy2(path, out / path.name)


def fit_classifier(features: np.ndarray, labels: Sequence[str], c: float, seed: int = 0) -> CropClassifier:
    """Fit the head on (features, labels) with inverse regularisation strength `c`."""
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    model.fit((features - mean) / scale, np.asarray(labels))
    return CropClassifier(tuple(str(c) for c in model.classes_), mean, scale, model.coef_, model.intercept_)


def select_and_fit_classifier(
    train: tuple[np.ndarray, Sequence[str]], val: tuple[np.ndarray, Sequence[str]], grid: Sequence[float], seed: int = 0
) -> tuple[CropClassifier, dict[float, float]]:
    """Pick C by top-1 on the validation items, then refit on train + val with that C.

    Returns:
        The refitted classifier and the validation top-1 for each C tried.
    """
    scores = {}
    for c in grid:
        model = fit_classifier(train[0], train[1], c, seed)
        scores[c] = float(np.mean(np.array(model.predict(val[0])) == np.asarray(val[1])))
        log.info("crop classifier C=%g: val top-1 %.4f", c, scores[c])
    best = max(grid, key=lambda c: (scores[c], -c))  # ties → stronger regularisation
    both = (np.concatenate([train[0], val[0]]), [*train[1], *val[1]])
    return fit_classifier(both[0], both[1], best, seed), scores
