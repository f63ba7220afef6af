"""Stage train_portion: the portion estimator (torch ensemble) and both baselines, on train items; CV beside."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


def with_fallbacks(estimator, rows, index, images, features, train, val, params):
    """The estimator with what it needs without a coin: the plate scale's extra error (measured on the val
    photos, coin ignored, ECUSTFD's plate sizes), the class prior and the shared size prior; and those figures."""
    from training.portion.fit import extra_sigma, portion_rows
    from training.portion.no_coin import finder_accuracy, photo_scales
    from training.portion.priors import with_priors

    cfg = params.train_portion
    train_rows, val_rows = rows[train].reset_index(drop=True), rows[val].reset_index(drop=True)
    val_images = images[images["image"].isin(set(val_rows["image"]))]
    scales = photo_scales(val_images, val_rows, params.paths.raw_ecustfd)
    val_plate = portion_rows(index[val].reset_index(drop=True), images, scales=scales)
    on_plate = (val_plate["reference"] == "plate").to_numpy()
    plate_sigma = (
        extra_sigma(
            estimator,
            val_rows[on_plate].reset_index(drop=True),
            val_plate[on_plate].reset_index(drop=True),
            features[val][on_plate],
        )
        if on_plate.any()
        else 0.0
    )
    estimator = with_priors(
        estimator,
        train_rows,
        val_rows,
        cfg.size_prior_slope,
        plate_sigma=plate_sigma,
        plate_diameter_mm=cfg.plate_diameter_mm,
    )
    info = {
        "plate_sigma": plate_sigma,
        "val_plate_finder": finder_accuracy(val_images, scales),
        "class_prior_sigma_scale": estimator.meta["class_prior"]["sigma_scale"],
        "size_prior_log_half_width": estimator.meta["agnostic_prior"]["log_half_width"],
    }
    return estimator, info


@app.command()
def main(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.portion).")] = None,
    cv: Annotated[
        bool,
        typer.Option(
            help="Also run item-grouped cross-validation (its out-of-fold errors set the interval; without it, σ scaled on val items)."
        ),
    ] = True,
) -> None:
    """Fit on train items and select on val items; cross-validate over train+val items, whose out-of-fold errors
    calibrate the interval."""
    import numpy as np
    import pandas as pd
    from tqdm import tqdm

    from training.atomic import atomic_dir, write_json
    from training.data.crop_features import load_features
    from training.data.ecustfd import load_manifest
    from training.files import BASELINES_FILE, CV_FILE, CV_PREDICTIONS_FILE, TRAINING_FILE
    from training.portion.fit import TARGET_COVERAGE, baselines, fit_estimator, grouped_folds, portion_rows
    from training.portion.metrics import log_error, mass_mape

    setup_logging()
    params = load_params()
    cfg = params.train_portion
    images, _ = load_manifest(params.paths.prepared)
    index, features = load_features(params.paths.features)
    rows = portion_rows(index, images)
    usable = (rows["reference"] == "coin").to_numpy()
    is_split = lambda s: usable & (rows["split"] == s).to_numpy()  # noqa: E731
    train, val = is_split("train"), is_split("val")
    typical = float(rows.loc[train, "mm_per_px"].median())
    val_no_ref = portion_rows(index[val].reset_index(drop=True), images, typical_mm_per_px=typical)

    estimator, _states, info = fit_estimator(
        rows[train].reset_index(drop=True),
        features[train],
        rows[val].reset_index(drop=True),
        features[val],
        cfg,
        cfg.members,
        typical,
        val_no_ref,
    )
    class_mean, geometric = baselines(rows[train])
    estimator, info["no_coin"] = with_fallbacks(estimator, rows, index, images, features, train, val, params)

    cv_scores = {"model": [], "class_mean": [], "geometric": []}
    abs_log_errors = []  # out-of-fold |log(predicted / true grams)| of train+val photos
    oof_frames = []  # the same predictions, kept for finetune_portion's comparison and the two-photo stack
    if cv:
        # Train and val items only: the test items stay unseen, by the model and by its interval calibration.
        pool = usable & (rows["split"] != "test").to_numpy()
        folds = grouped_folds(rows[pool], cfg.cv_folds, cfg.seed)
        pool_rows, pool_feats = rows[pool].reset_index(drop=True), features[pool]
        for k, fold in enumerate(tqdm(folds, desc="cv folds")):
            rest_items = np.array(sorted(pool_rows.loc[~fold, "item_id"].unique()))
            np.random.default_rng(cfg.seed).shuffle(rest_items)
            inner_val = pool_rows["item_id"].isin(set(rest_items[: max(1, len(rest_items) // 7)])).to_numpy() & ~fold
            inner_train = ~fold & ~inner_val
            model, _, _ = fit_estimator(
                pool_rows[inner_train].reset_index(drop=True),
                pool_feats[inner_train],
                pool_rows[inner_val].reset_index(drop=True),
                pool_feats[inner_val],
                cfg,
                cfg.cv_members,
                typical,
            )
            fitted_on = pool_rows[inner_train | inner_val]
            # A food with a single item outside test cannot be both trained on and held out: score the rest.
            seen = fold & pool_rows["label"].isin(set(fitted_on["label"])).to_numpy()
            held = pool_rows[seen].reset_index(drop=True)
            cm, geo = baselines(fitted_on)
            predicted = model.predict_frame(held, pool_feats[seen])
            abs_log_errors.append(np.abs(log_error(held["weight_g"], predicted["grams"])))
            oof_frames.append(
                held[["image", "item_id", "label", "view", "weight_g"]].assign(
                    fold=k, grams=predicted["grams"].to_numpy()
                )
            )
            for name, pred in (
                ("model", predicted),
                ("class_mean", cm.predict(held)),
                ("geometric", geo.predict(held)),
            ):
                cv_scores[name].append(mass_mape(held["weight_g"], pred["grams"]))

    if abs_log_errors:
        # On new items the error is mostly a per-item bias (the same apple is misjudged in all its photos),
        # which the ensemble's σ does not see: scaling σ to 80 % out-of-fold coverage gave 60-98 % per fold
        # (61 % on test calibrated on val items alone, 69 % on out-of-fold ratios). One log half-width, the
        # 80th percentile of the out-of-fold errors of ~130 train+val items, covered 74-88 % per fold.
        info["log_half_width"] = estimator.meta["log_half_width"] = float(
            np.quantile(np.concatenate(abs_log_errors), TARGET_COVERAGE)
        )

    with atomic_dir(out or params.paths.portion) as scratch:
        estimator.save(scratch)
        write_json(scratch / BASELINES_FILE, {"class_mean": class_mean.__dict__, "geometric": geometric.__dict__})
        write_json(
            scratch / TRAINING_FILE,
            {**info, "typical_mm_per_px": typical, "n_train": int(train.sum()), "n_val": int(val.sum())},
        )
        if oof_frames:
            pd.concat(oof_frames, ignore_index=True).to_parquet(scratch / CV_PREDICTIONS_FILE, index=False)
        write_json(
            scratch / CV_FILE,
            {
                name: {"mass_mape_mean": float(np.mean(v)), "mass_mape_sd": float(np.std(v)), "folds": v}
                for name, v in cv_scores.items()
                if v
            },
        )
    val_rows = rows[val].reset_index(drop=True)
    val_mape = mass_mape(val_rows["weight_g"], estimator.predict_frame(val_rows, features[val])["grams"])
    summary = ", ".join(f"{k} {np.mean(v):.3f}±{np.std(v):.3f}" for k, v in cv_scores.items() if v)
    interval = (
        f"×/÷ {np.exp(info['log_half_width']):.2f}" if "log_half_width" in info else f"σ×{info['sigma_scale']:.2f}"
    )
    typer.echo(
        f"train_portion: val mass MAPE {val_mape:.3f} (80 % interval {interval}); CV mass MAPE {summary or 'skipped'}"
    )


if __name__ == "__main__":
    run(app)
