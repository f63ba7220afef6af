"""Stage train_detector: YOLO localiser (food, coin) + crop classifier (which food), on train items.

The crop classifier also trains on the labelled examples import_labels read from the bot's export (<paths.labelled>),
new foods as new classes; with none (the default) it is the ECUSTFD classifier alone, byte for byte.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.detector).")] = None,
    profile: Annotated[str | None, typer.Option(help="Training profile, e.g. quick or full (default: params).")] = None,
) -> None:
    """Train the localiser with ultralytics, then the crop classifier on MobileNetV2 features."""
    import numpy as np

    from training.atomic import atomic_dir, write_json
    from training.data.crop_features import load_features
    from training.data.labelled import class_info
    from training.detector.fit import (
        copy_run_artifacts,
        localiser_dataset,
        resolve_device,
        select_and_fit_classifier,
        train_localiser,
    )
    from training.files import TRAINING_FILE, YOLO_DIR
    from training.inference.crop_classifier import WEIGHTS_FILE as CLASSIFIER_FILE
    from training.inference.labels import FOOD_TYPES
    from training.inference.localiser import WEIGHTS_FILE

    setup_logging()
    params = load_params()
    cfg = params.train_detector
    if profile is not None:
        cfg = cfg.model_copy(update={"profile": profile})
    profile = cfg.active
    device = resolve_device(cfg.device)  # before the classifier: a GPU asked for and absent fails at once
    out = out or params.paths.detector

    index, features = load_features(params.paths.features)
    split = index["split"].to_numpy()
    labels = index["label"].tolist()
    pick = lambda s: (features[split == s], [lab for lab, sp in zip(labels, split) if sp == s])  # noqa: E731
    train = pick("train")
    labelled, labelled_features = load_features(params.paths.labelled)
    if len(labelled):  # people's labelled crops train beside ECUSTFD's; C is still chosen on ECUSTFD's val items
        train = (
            np.concatenate([train[0], labelled_features.astype(train[0].dtype)]),
            [*train[1], *labelled["label"].astype(str)],
        )
    classifier, val_scores = select_and_fit_classifier(train, pick("val"), cfg.classifier.c_grid, seed=cfg.seed)

    with atomic_dir(out) as scratch, tempfile.TemporaryDirectory(prefix="localiser-") as work:
        data_yaml = localiser_dataset(params.paths.prepared / YOLO_DIR, Path(work) / "data")
        started = time.perf_counter()
        best, history = train_localiser(
            data_yaml, Path(work) / "runs", {**profile.model_dump(), **cfg.augmentation}, seed=cfg.seed, device=device
        )
        minutes = (time.perf_counter() - started) / 60
        best.replace(scratch / WEIGHTS_FILE)
        copy_run_artifacts(best.parent.parent, scratch)
        classifier.save(scratch / CLASSIFIER_FILE)
        write_json(
            scratch / TRAINING_FILE,
            {
                "profile": cfg.profile,
                "localiser": {"history": history, "minutes": round(minutes, 2), **profile.model_dump()},
                "classifier": {
                    "val_top1_by_c": {str(c): s for c, s in val_scores.items()},
                    "classes": list(classifier.classes),
                    "n_train_crops": int(np.sum(split != "test")) + len(labelled),
                    "n_labelled_crops": len(labelled),
                    # classes people taught, with the words the namer answers them by
                    "labelled_classes": {k: v for k, v in class_info(labelled).items() if k not in FOOD_TYPES},
                },
            },
        )
    last = history[-1] if history else {}
    typer.echo(
        f"train_detector ({cfg.profile}): {len(history)} epochs in {minutes:.1f} min, "
        f"val mAP50 {last.get('metrics/mAP50(B)', float('nan')):.3f}; "
        f"classifier val top-1 {max(val_scores.values()):.3f}; wrote {out}"
    )


if __name__ == "__main__":
    run(app)
