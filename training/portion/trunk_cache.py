"""The frozen MobileNetV2 trunk's activations (features[:14], 96 × 14 × 14) of every food crop, computed once per
augmentation so that fine-tuning the last blocks on a 2-core CPU never runs the trunk again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from training.inference.backbone import crop
from training.inference.boxes import Box
from training.inference.tuned_portion import TRUNK_BLOCKS, crop_pixels

ACTIVATIONS_FILE = "activations.npy"  # float16 [augmentations, crops, 96, 14, 14], rows as extract_features' index
INDEX_FILE = "crops.parquet"
AUGMENTATIONS_FILE = "augmentations.json"


@dataclass(frozen=True)
class Augmentation:
    """One cached view of a crop: its context (the pad around the box, a share of its size) and a mirror image.

    A different pad is a small scale and crop jitter that leaves the food's measured size (box × coin) as it is.
    """

    pad_fraction: float
    flip: bool

    def apply(self, image: Image.Image, box: Box) -> Image.Image:
        cut = crop(image, box, self.pad_fraction)
        return cut.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if self.flip else cut


def trunk(weights: Path | None):
    """The frozen first blocks of ImageNet MobileNetV2, in eval mode."""
    from training.inference.backbone import build_mobilenet_v2

    return build_mobilenet_v2(weights).features[:TRUNK_BLOCKS].eval()


def cache_activations(
    boxes: pd.DataFrame,
    raw_root: Path,
    model,
    augmentations: Sequence[Augmentation],
    size: int,
    batch_size: int = 32,
    progress: bool = True,
) -> np.ndarray:
    """float16 [len(augmentations), len(boxes), 96, 14, 14] for `boxes` (image_path, xmin..ymax); the first
    augmentation is the crop as served (the served pad, no flip)."""
    import torch

    out = None
    groups = boxes.groupby("image_path", sort=False)
    if progress:
        from tqdm import tqdm

        groups = tqdm(groups, total=boxes["image_path"].nunique(), desc="trunk activations", unit="photo")
    pending: list[tuple[int, Image.Image]] = []

    def flush():
        nonlocal out
        rows = [r for r, _ in pending]
        for a, aug in enumerate(augmentations):
            x = torch.from_numpy(crop_pixels([aug.apply(image, box) for _, (image, box) in pending], size))
            with torch.inference_mode():
                act = model(x).numpy()
            if out is None:
                out = np.zeros((len(augmentations), len(boxes), *act.shape[1:]), np.float16)
            out[a, rows] = act.astype(np.float16)
        pending.clear()

    for image_path, group in groups:
        with Image.open(raw_root / image_path) as image:
            image = image.convert("RGB")
        for row in group.itertuples():
            pending.append((row.Index, (image, Box(row.xmin, row.ymin, row.xmax, row.ymax))))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return out if out is not None else np.zeros((len(augmentations), 0, 96, 14, 14), np.float16)


def load_activations(directory: Path, mmap: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """The crop index and the activations cache_trunk wrote (same row order as extract_features' index)."""
    index = pd.read_parquet(Path(directory) / INDEX_FILE)
    activations = np.load(Path(directory) / ACTIVATIONS_FILE, mmap_mode="r" if mmap else None)
    if activations.shape[1] != len(index):
        raise ValueError(f"{directory}: {len(index)} index rows but {activations.shape[1]} activation rows")
    return index, activations
