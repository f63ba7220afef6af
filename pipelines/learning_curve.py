"""Stage learning_curve: how fast a food outside the crop head's vocabulary is learned from k labelled photos.

On evaluate_openset's leave-foods-out folds (its seed, folds, C and PCA size), each hidden food is taught with k
labelled photos of its train items (seeded draws, several repeats) and its test crops are named by the gallery (the
bot's nearest labelled crop, threshold chosen on the val crops), by the gallery asked only for the namer's unknowns
(the bot today), and by the crop head retrained with the food as a new class, beside the namer alone (k=0); the
known foods' test crops show what the teaching costs them. Writes <paths.openset_reports>/learning_curve.json (per
fold and pooled, item-bootstrap intervals), learning_curve.csv, learning_curve_grid.csv and learning_curve.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)

CURVE_FILE = "learning_curve.json"
TABLE_FILE = "learning_curve.csv"  # one line per way, fold (or pooled) and k
GRID_FILE = "learning_curve_grid.csv"  # every gallery threshold tried on the val crops, per way
PLOT_FILE = "learning_curve.png"


@app.command()
def main(
    features: Annotated[
        Path | None, typer.Option(help="Crop features folder (default: params paths.features).")
    ] = None,
    namer: Annotated[Path | None, typer.Option(help="Served namer folder (default: params paths.namer).")] = None,
    backbone: Annotated[Path | None, typer.Option(help="Backbone folder (default: params paths.backbone).")] = None,
    reports: Annotated[Path | None, typer.Option(help="Report folder (default: params paths.openset_reports).")] = None,
) -> None:
    """Teach each hidden food with k labelled photos, name its test crops three ways, write the curve."""
    import json
    import logging

    import numpy as np
    import pandas as pd

    from training.atomic import atomic_file, write_json
    from training.bootstrap import ItemBootstrap
    from training.data.crop_features import load_features
    from training.inference.naming import NAMER_FILE, Thresholds, load_imagenet_head
    from training.openset.curve_report import curve_figures, curve_table, goal_check, plot_curve, way_answers
    from training.openset.evaluate import ImagenetOpinion, food_folds, score_folds
    from training.openset.learning_curve import (
        GALLERY,
        GALLERY_UNKNOWN_ONLY,
        WAYS,
        choose_gallery_threshold,
        score_draws,
    )

    setup_logging()
    log = logging.getLogger("pipelines.learning_curve")
    params = load_params()
    cfg, folds_cfg, paths = params.learning_curve, params.evaluate_openset, params.paths
    index, crops = load_features(features or paths.features)
    namer_path = (namer or paths.namer) / NAMER_FILE
    if not namer_path.is_file():
        raise FileNotFoundError(f"namer not found: {namer_path} (run `dvc repro evaluate_openset`)")
    spec = json.loads(namer_path.read_text())
    thresholds = Thresholds(**spec["thresholds"])
    weight, bias = load_imagenet_head(backbone or paths.backbone)
    foods = spec["imagenet_foods"]
    opinion = ImagenetOpinion(
        [f["key"] for f in foods], weight, bias, np.array([f["index"] for f in foods], dtype=np.intp)
    )

    folds = food_folds(index["label"].unique().tolist(), folds_cfg.folds, folds_cfg.seed)
    rows = score_folds(index, crops, folds, folds_cfg.c, folds_cfg.pca_components, opinion, folds_cfg.seed)
    scored = score_draws(
        index,
        crops,
        rows,
        folds,
        thresholds,
        cfg.ks,
        cfg.repeats,
        cfg.retrain_repeats,
        folds_cfg.c,
        folds_cfg.pca_components,
        folds_cfg.seed,
    )
    val, test = scored[scored["split"] == "val"], scored[scored["split"] == "test"]
    chosen, grids = {}, []
    for way in (GALLERY, GALLERY_UNKNOWN_ONLY):
        chosen[way], grid = choose_gallery_threshold(
            val, cfg.gallery_cosine, cfg.at_k, cfg.known_top1_drop, cfg.unknown_named_new, way == GALLERY_UNKNOWN_ONLY
        )
        grids.append(grid.assign(way=way))
        log.info("%s: cosine threshold %.3f chosen on val", way, chosen[way])

    bootstrap = ItemBootstrap(test["item_id"])
    answers = {way: way_answers(test, way, chosen) for way in WAYS}

    def per_way(mask: np.ndarray) -> dict[str, dict]:
        return {way: curve_figures(test[mask], answers[way][mask], bootstrap) for way in WAYS}

    pooled = per_way(np.ones(len(test), dtype=bool))
    per_fold = [
        {"fold": k, "hidden": hidden, **per_way((test["fold"] == k).to_numpy())} for k, hidden in enumerate(folds)
    ]
    per_food = pd.DataFrame(
        [
            {"way": way, "food": food, "k": int(key[1:]), "new_top1": f["new_top1"], "known_top1": f["known_top1"]}
            for food in sorted(test["food"].unique())
            for way in WAYS
            for key, f in curve_figures(
                test[(test["food"] == food).to_numpy()], answers[way][(test["food"] == food).to_numpy()], bootstrap
            ).items()
        ]
    )
    goal = {
        "at_k": cfg.at_k,
        "new_top1_at_least": cfg.goal_new_top1,
        "known_top1_drop_at_most": cfg.known_top1_drop,
        **{way: goal_check(pooled[way], cfg.at_k, cfg.goal_new_top1, cfg.known_top1_drop) for way in WAYS},
    }

    reports = reports or paths.openset_reports
    table = [
        *curve_table(pooled, "pooled"),
        *(r for f in per_fold for r in curve_table({way: f[way] for way in WAYS}, str(f["fold"]))),
    ]
    with atomic_file(reports / TABLE_FILE) as handle:
        pd.DataFrame(table).to_csv(handle, index=False)
    with atomic_file(reports / GRID_FILE) as handle:
        pd.concat(grids, ignore_index=True).to_csv(handle, index=False)
    plot_curve(pooled, cfg.at_k, cfg.goal_new_top1, reports / PLOT_FILE)
    write_json(
        reports / CURVE_FILE,
        {
            "gallery_threshold": {
                way: {"cosine": chosen[way], "chosen_on": "val", **_chosen_row(grids, way)} for way in chosen
            },
            "namer_thresholds": thresholds.to_dict(),
            "ks": [0, *sorted(cfg.ks)],
            "repeats": cfg.repeats,
            "retrain_repeats": cfg.retrain_repeats,
            "test": pooled,
            "folds": per_fold,
            "foods": per_food[per_food["k"] == cfg.at_k].to_dict(orient="records"),
            "goal": goal,
            "n_folds": len(folds),
            "bootstrap": bootstrap.spec(),
        },
    )
    line = ", ".join(
        f"{way} {pooled[way][f'k{cfg.at_k}']['new_top1']:.3f} (known {pooled[way][f'k{cfg.at_k}']['known_top1']:.3f})"
        for way in WAYS
    )
    typer.echo(
        f"learning_curve: new-food top-1 at k={cfg.at_k}: {line}; namer alone {pooled[GALLERY]['k0']['new_top1']:.3f} "
        f"(known {pooled[GALLERY]['k0']['known_top1']:.3f}); goal met: "
        + ", ".join(f"{way} {goal[way]['met']}" for way in WAYS)
    )


def _chosen_row(grids: list, way: str) -> dict:
    """The chosen grid row's val figures."""
    for grid in grids:
        row = grid[(grid["way"] == way) & grid["chosen"]]
        if len(row):
            return {k: float(row.iloc[0][k]) for k in row.columns if k.startswith("val_")}
    return {}


if __name__ == "__main__":
    run(app)
