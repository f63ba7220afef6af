"""Stage extract_features: ImageNet MobileNetV2 features for every annotated food box."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.features).")] = None,
) -> None:
    """Crop each food box from its photo and store its 1280-d feature vector."""
    import numpy as np

    from training.atomic import atomic_dir
    from training.data.crop_features import FEATURES_FILE, INDEX_COLUMNS, INDEX_FILE, extract, food_boxes
    from training.data.ecustfd import load_manifest
    from training.inference.backbone import CropFeatureExtractor

    setup_logging()
    params = load_params()
    cfg = params.extract_features
    boxes = food_boxes(*load_manifest(params.paths.prepared))
    extractor = CropFeatureExtractor.from_dir(params.paths.backbone, size=cfg.size, batch_size=cfg.batch_size)
    features = extract(boxes, params.paths.raw_ecustfd, extractor, cfg.pad_fraction)
    with atomic_dir(out or params.paths.features) as scratch:
        boxes[INDEX_COLUMNS].to_parquet(scratch / INDEX_FILE, index=False)
        np.save(scratch / FEATURES_FILE, features)
    typer.echo(f"extract_features: {len(boxes)} food crops → {features.shape[1]}-d features")


if __name__ == "__main__":
    run(app)
