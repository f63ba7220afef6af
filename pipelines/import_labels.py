"""Stage import_labels: the labelled examples the bot exported (params `import_labels.source`), as crops and their
MobileNetV2 features in <paths.labelled> (crops.parquet + crops.npy, like data/features), for train_detector's crop
classifier. No source (the default): an empty but valid output, so the pipeline runs offline as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    source: Annotated[
        Path | None, typer.Option(help="Export folder or .tar(.gz) (default: params import_labels.source).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.labelled).")] = None,
) -> None:
    """Read the export, crop each labelled box from its photo, store the crops' features."""
    import numpy as np

    from training.atomic import atomic_dir
    from training.data.crop_features import FEATURES_FILE, INDEX_FILE
    from training.data.labelled import empty_labelled, labelled_features, opened_export, read_export
    from training.inference.backbone import CropFeatureExtractor

    setup_logging()
    params = load_params()
    source = source or params.import_labels.source
    cfg = params.extract_features
    if source is None:
        index, features = empty_labelled()
    else:
        with opened_export(source) as folder:
            examples = read_export(folder)
            extractor = CropFeatureExtractor.from_dir(params.paths.backbone, size=cfg.size, batch_size=cfg.batch_size)
            index, features = labelled_features(folder, examples, extractor, cfg.pad_fraction)
    with atomic_dir(out or params.paths.labelled) as scratch:
        index.to_parquet(scratch / INDEX_FILE, index=False)
        np.save(scratch / FEATURES_FILE, features)
    labels = sorted(set(index["label"]))
    typer.echo(
        f"import_labels: {len(index)} labelled crops of {len(labels)} foods"
        + (f" ({', '.join(labels[:10])}{'...' if len(labels) > 10 else ''})" if labels else " (no source)")
    )


if __name__ == "__main__":
    run(app)
