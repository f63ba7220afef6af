"""MobileNetV2 features of every annotated food box, computed once and shared by the crop classifier and
the portion estimator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from training.inference.backbone import CropFeatureExtractor, crop
from training.inference.boxes import Box
from training.inference.labels import COIN

INDEX_FILE = "crops.parquet"
FEATURES_FILE = "crops.npy"
INDEX_COLUMNS = ["image", "item_id", "label", "view", "xmin", "ymin", "xmax", "ymax", "weight_g", "volume_ml", "split"]


def food_boxes(images: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    """One row per food box, with the photo's view and path; coins left out."""
    foods = objects[objects["label"] != COIN].merge(images[["image", "image_path", "view"]], on="image")
    return foods.reset_index(drop=True)


def extract(
    boxes: pd.DataFrame, raw_root: Path, extractor: CropFeatureExtractor, pad_fraction: float, progress: bool = True
) -> np.ndarray:
    """Features [len(boxes), 1280] for `boxes` (needs image_path, xmin..ymax), one photo opened at a time."""
    out = np.zeros((len(boxes), extractor.model.classifier[-1].in_features), dtype=np.float32)
    groups = boxes.groupby("image_path", sort=False)
    if progress:
        from tqdm import tqdm

        groups = tqdm(groups, total=boxes["image_path"].nunique(), desc="crops", unit="photo")
    pending_rows, pending_crops = [], []
    for image_path, group in groups:
        with Image.open(raw_root / image_path) as image:
            image = image.convert("RGB")
            for row in group.itertuples():
                pending_rows.append(row.Index)
                pending_crops.append(crop(image, Box(row.xmin, row.ymin, row.xmax, row.ymax), pad_fraction))
        if len(pending_crops) >= extractor.batch_size:
            out[pending_rows] = extractor(pending_crops)
            pending_rows, pending_crops = [], []
    if pending_crops:
        out[pending_rows] = extractor(pending_crops)
    return out


def load_features(directory: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The index table and the feature matrix written by the extract_features stage (same row order)."""
    index = pd.read_parquet(Path(directory) / INDEX_FILE)
    features = np.load(Path(directory) / FEATURES_FILE)
    if len(index) != len(features):
        raise ValueError(f"{directory}: {len(index)} index rows but {len(features)} feature rows")
    return index, features
