"""Stage evaluate_openset: leave-foods-out figures of the open-set namer, and the served namer.

Each fold (params `evaluate_openset`) hides a group of ECUSTFD foods from the crop head, refitted on the train items
of the others; the hidden foods' crops are the unknowns. The thresholds (ECUSTFD head score, ImageNet second
opinion) are chosen on the val crops pooled over folds; the test crops are scored per fold and pooled, beside the
closed-set baseline (the argmax: no unknown caught), with item-bootstrap intervals, into
<paths.openset_reports>/metrics.json. The served namer goes to <paths.namer>: those thresholds, the ImageNet food map
of data/foods.yaml resolved to SR28 portions, and the open-set statistics of the served crop classifier fitted on the
train items of all 19 foods. The labelled examples of import_labels (<paths.labelled>; none by default) train every
fold's head and the served statistics as they train the served classifier, and their foods' words join the namer's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)

FOLDS_FILE = "folds.csv"  # one line per fold and for the pooled test crops
GRID_FILE = "val_grid.csv"  # every weight tried on the val crops, with its threshold and figures
PRECISION_FILE = "imagenet_precision.csv"  # the ImageNet second opinion's precision on the val crops, per threshold


@app.command()
def main(
    features: Annotated[
        Path | None, typer.Option(help="Crop features folder (default: params paths.features).")
    ] = None,
    detector: Annotated[Path | None, typer.Option(help="Detector folder (default: params paths.detector).")] = None,
    backbone: Annotated[Path | None, typer.Option(help="Backbone folder (default: params paths.backbone).")] = None,
    nutrition: Annotated[Path | None, typer.Option(help="Nutrition tables (default: params paths.nutrition).")] = None,
    foods_map: Annotated[Path | None, typer.Option(help="foods.yaml (default: params paths.foods_map).")] = None,
    labelled: Annotated[
        Path | None, typer.Option(help="Labelled examples folder (default: params paths.labelled).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Namer output folder (default: params paths.namer).")] = None,
    reports: Annotated[Path | None, typer.Option(help="Report folder (default: params paths.openset_reports).")] = None,
) -> None:
    """Score the namer leave-foods-out, choose its thresholds on val, write the figures and the served namer."""
    import logging

    import numpy as np
    import pandas as pd

    from nutrition.usda_table import NutritionTable
    from training.atomic import atomic_dir, atomic_file, write_json
    from training.bootstrap import ItemBootstrap
    from training.data.crop_features import load_features
    from training.data.labelled import class_info
    from training.files import METRICS_FILE
    from training.inference.crop_classifier import WEIGHTS_FILE as CLASSIFIER_FILE
    from training.inference.crop_classifier import CropClassifier
    from training.inference.naming import NAMER_FILE, STATS_FILE, OpenSetStats, load_imagenet_head
    from training.openset.evaluate import ImagenetOpinion, choose_thresholds, figures, food_folds, score_folds
    from training.openset.imagenet_foods import ecustfd_names, read_food_map, resolve_imagenet_foods

    setup_logging()
    log = logging.getLogger("pipelines.evaluate_openset")
    params = load_params()
    cfg, paths = params.evaluate_openset, params.paths
    index, crops = load_features(features or paths.features)
    taught, taught_crops = load_features(labelled or paths.labelled)
    served = CropClassifier.load((detector or paths.detector) / CLASSIFIER_FILE)
    weight, bias = load_imagenet_head(backbone or paths.backbone)
    foods_map = foods_map or paths.foods_map
    imagenet_foods = resolve_imagenet_foods(foods_map, NutritionTable.load(nutrition or paths.nutrition))
    opinion = ImagenetOpinion(
        [f.key for f in imagenet_foods], weight, bias, np.array([f.index for f in imagenet_foods], dtype=np.intp)
    )

    folds = food_folds(index["label"].unique().tolist(), cfg.folds, cfg.seed)
    extra = (taught["label"].astype(str).tolist(), taught_crops) if len(taught) else None
    rows = score_folds(index, crops, folds, cfg.c, cfg.pca_components, opinion, cfg.seed, extra)
    val, test = rows[rows["split"] == "val"], rows[rows["split"] == "test"]
    thresholds, grid, precision = choose_thresholds(
        val,
        cfg.knn_weights,
        cfg.imagenet_probability,
        cfg.known_rejection_budget,
        cfg.imagenet_min_precision,
        cfg.budget_counts,
    )
    log.info("chosen on val: %s", thresholds)

    bootstrap = ItemBootstrap(test["item_id"])
    per_fold = []
    for k, hidden in enumerate(folds):
        fold = test[test["fold"] == k]
        per_fold.append(
            {
                "fold": k,
                "hidden": hidden,
                "namer": figures(fold, thresholds, bootstrap),
                "closed_set": figures(fold, None, bootstrap),
            }
        )
    pooled = {"namer": figures(test, thresholds, bootstrap), "closed_set": figures(test, None, bootstrap)}
    chosen = grid[grid["chosen"]].iloc[0]
    goal = {
        "unknown_ok_at_least": cfg.goal_unknown_ok,
        "known_rejected_at_most": cfg.goal_known_rejected,
        "met": bool(
            pooled["namer"]["unknown_ok"] >= cfg.goal_unknown_ok
            and pooled["namer"]["known_rejected"] <= cfg.goal_known_rejected
        ),
    }

    train = (index["split"] == "train").to_numpy()
    bank = np.concatenate([crops[train], taught_crops]) if len(taught) else crops[train]
    stats = OpenSetStats.fit(served, bank.astype(np.float64), cfg.pca_components)
    foods, _ = read_food_map(foods_map)
    names = ecustfd_names(foods)
    names.update({k: v for k, v in class_info(taught).items() if k not in names})  # taught foods keep their words
    namer = {
        "thresholds": thresholds.to_dict(),
        "chosen_on": "val",
        "criterion": {
            "known_rejection_budget": cfg.known_rejection_budget,
            "budget_counts": cfg.budget_counts,
            "objective": "unknown_ok",
            "val_unknown_ok": float(chosen["unknown_ok"]),
            "val_known_rejected": float(chosen["known_rejected"]),
            "imagenet_min_precision": cfg.imagenet_min_precision,
        },
        "pca_components": cfg.pca_components,
        "n_statistics_crops": len(bank),
        "imagenet_foods": [f.to_dict() for f in imagenet_foods],
        "ecustfd": names,
    }
    with atomic_dir(out or paths.namer) as scratch:
        write_json(scratch / NAMER_FILE, namer)
        stats.save(scratch / STATS_FILE)

    reports = reports or paths.openset_reports
    summary = [
        {
            "fold": f["fold"],
            "hidden": " ".join(f["hidden"]),
            **_flat(f["namer"]),
            "closed_set_known_top1": f["closed_set"]["known_top1"],
        }
        for f in per_fold
    ]
    summary.append(
        {
            "fold": "pooled",
            "hidden": "",
            **_flat(pooled["namer"]),
            "closed_set_known_top1": pooled["closed_set"]["known_top1"],
        }
    )
    with atomic_file(reports / FOLDS_FILE) as handle:
        pd.DataFrame(summary).to_csv(handle, index=False)
    with atomic_file(reports / GRID_FILE) as handle:
        grid.to_csv(handle, index=False)
    with atomic_file(reports / PRECISION_FILE) as handle:
        precision.to_csv(handle, index=False)
    write_json(
        reports / METRICS_FILE,
        {
            "thresholds": thresholds.to_dict(),
            "chosen_on": "val",
            "val": {
                k: float(chosen[k])
                for k in ("unknown_ok", "known_rejected", "known_wrongly_rejected", "known_top1", "unknown_named_right")
            },
            "test": pooled,
            "folds": per_fold,
            "goal": goal,
            "n_folds": len(folds),
            "n_imagenet_foods": len(imagenet_foods),
            "bootstrap": bootstrap.spec(),
        },
    )
    p, base = pooled["namer"], pooled["closed_set"]
    typer.echo(
        f"evaluate_openset, {len(folds)} folds, test crops pooled: unknowns caught or named right "
        f"{p['unknown_ok']:.3f} (closed set {base['unknown_ok']:.3f}), known rejected {p['known_rejected']:.3f}, "
        f"known top-1 {p['known_top1']:.3f} (closed set {base['known_top1']:.3f}), AUROC {p['auroc']:.3f}; goal met: "
        f"{goal['met']}"
    )


def _flat(figures: dict) -> dict:
    """A figure table's scalars, intervals left out."""
    return {k: v for k, v in figures.items() if not isinstance(v, list)}


if __name__ == "__main__":
    run(app)
