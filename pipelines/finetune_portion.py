"""Stage finetune_portion: MobileNetV2's last blocks and a head fine-tuned on grams, depth, learning rate and
epochs chosen by item-grouped CV over train+val (train_portion's folds); the final fit on train+val."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.portion_tuned).")] = None,
) -> None:
    """Cross-validate the grid on train+val items, refit the best point on all of them, save it with its
    out-of-fold predictions; the frozen estimator (train_portion) ships inside it for its fallbacks."""
    import numpy as np

    from training.atomic import atomic_dir, write_json
    from training.data.ecustfd import load_manifest
    from training.files import CV_FILE, CV_PREDICTIONS_FILE, TRAINING_FILE
    from training.inference.backbone import WEIGHTS_FILE, build_mobilenet_v2
    from training.inference.portion_estimator import PortionEstimator
    from training.portion.finetune import TuneConfig, TuneSettings, best, cross_validate, fit_tuned
    from training.portion.fit import TARGET_COVERAGE, grouped_folds, portion_rows
    from training.portion.trunk_cache import load_activations

    setup_logging()
    params = load_params()
    cfg = params.finetune_portion
    images, _ = load_manifest(params.paths.prepared)
    index, activations = load_activations(params.paths.trunk)
    rows = portion_rows(index, images)
    # Train and val items with a coin only: test items are never seen here, neither by a fit nor by a choice.
    pool = ((rows["reference"] == "coin") & (rows["split"] != "test")).to_numpy()
    pool_rows = rows[pool].reset_index(drop=True)
    pool_acts = np.asarray(activations[:, np.flatnonzero(pool)], np.float16)  # ~0.4 GB in memory, read once
    folds = grouped_folds(pool_rows, params.train_portion.cv_folds, params.train_portion.seed)
    backbone = build_mobilenet_v2(params.paths.backbone / WEIGHTS_FILE)
    settings = TuneSettings(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        head_lr=cfg.head_lr,
        weight_decay=cfg.weight_decay,
        hidden=cfg.hidden,
        dropout=cfg.dropout,
        seed=cfg.seed,
    )
    grid = [TuneConfig(first, lr) for first in cfg.first_tuned for lr in cfg.lr]
    cv = cross_validate(pool_rows, pool_acts, folds, grid, settings, backbone)
    chosen = best(cv["scores"])
    oof = cv["oof"][(chosen["grid_index"], chosen["epochs"] - 1)]
    scored = ~np.isnan(oof)
    log_half_width = float(
        np.quantile(np.abs(oof[scored] - np.log(pool_rows.loc[scored, "weight_g"])), TARGET_COVERAGE)
    )

    model = fit_tuned(
        pool_rows,
        pool_acts,
        TuneConfig(chosen["first_tuned"], chosen["lr"]),
        settings,
        backbone,
        fallback=PortionEstimator.load(params.paths.portion),
        progress="final fit on train+val",
        pad_fraction=params.extract_features.pad_fraction,
        size=params.extract_features.size,
        stop_after=chosen["epochs"],
    )
    model.meta["log_half_width"] = log_half_width
    fold_of = np.zeros(len(pool_rows), int)
    for k, fold in enumerate(folds):
        fold_of[fold] = k
    predictions = pool_rows[["image", "item_id", "label", "view", "weight_g"]].assign(
        fold=fold_of, log_grams=oof, grams=np.exp(oof)
    )
    with atomic_dir(out or params.paths.portion_tuned) as scratch:
        model.save(scratch)
        predictions.to_parquet(scratch / CV_PREDICTIONS_FILE, index=False)
        write_json(scratch / CV_FILE, {"chosen": chosen, "grid": cv["scores"], "n_folds": len(folds)})
        write_json(
            scratch / TRAINING_FILE,
            {
                "n_crops": len(pool_rows),
                "n_items": int(pool_rows["item_id"].nunique()),
                "log_half_width": log_half_width,
            },
        )
    typer.echo(
        f"finetune_portion: chose blocks {chosen['first_tuned']}-17, lr {chosen['lr']:g}, {chosen['epochs']} epochs "
        f"by CV (mass MAPE {chosen['mass_mape']:.3f} ± {chosen['mass_mape_sd']:.3f}); 80 % interval ×/÷ "
        f"{np.exp(log_half_width):.2f}"
    )


if __name__ == "__main__":
    run(app)
