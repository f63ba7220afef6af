"""Stage cache_trunk: the frozen MobileNetV2 trunk's activations of every food crop, once per cached augmentation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.trunk).")] = None,
) -> None:
    """Crop each food box as extract_features does (and as each augmentation varies it), run the first 14 blocks."""
    import numpy as np

    from training.atomic import atomic_dir, write_json
    from training.data.crop_features import INDEX_COLUMNS, food_boxes
    from training.data.ecustfd import load_manifest
    from training.inference.backbone import WEIGHTS_FILE
    from training.portion.trunk_cache import (
        ACTIVATIONS_FILE,
        AUGMENTATIONS_FILE,
        INDEX_FILE,
        Augmentation,
        cache_activations,
        trunk,
    )

    setup_logging()
    params = load_params()
    cfg = params.finetune_portion
    # The first view is the crop as served: extract_features' pad, not mirrored.
    augmentations = [Augmentation(params.extract_features.pad_fraction, False)] + [
        Augmentation(a.pad_fraction, a.flip) for a in cfg.augmentations
    ]
    boxes = food_boxes(*load_manifest(params.paths.prepared))
    model = trunk(params.paths.backbone / WEIGHTS_FILE)
    activations = cache_activations(
        boxes, params.paths.raw_ecustfd, model, augmentations, params.extract_features.size, cfg.batch_size
    )
    with atomic_dir(out or params.paths.trunk) as scratch:
        boxes[INDEX_COLUMNS].to_parquet(scratch / INDEX_FILE, index=False)
        np.save(scratch / ACTIVATIONS_FILE, activations)
        write_json(scratch / AUGMENTATIONS_FILE, [a.__dict__ for a in augmentations])
    typer.echo(
        f"cache_trunk: {activations.shape[1]} food crops × {len(augmentations)} views → "
        f"{activations.shape[2:]} activations ({activations.nbytes / 2**20:.0f} MiB)"
    )


if __name__ == "__main__":
    run(app)
