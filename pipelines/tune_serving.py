"""Stage tune_serving: choose the served food, coin and overlap thresholds on the validation photos.

The served path as evaluate_meal scores it (`pipelines.evaluate_meal.score_split`) runs on every val photo under
each point of the grid in params `tune_serving` (food × coin × overlap_iou); the detector runs once per photo and
each point is applied to its boxes. The point with the best objective is written to <paths.serving>/thresholds.json,
which evaluate_meal scores on test and register_detector ships inside food-detector, where serving reads it; the
sweep goes to <paths.serving_reports>/sweep.csv. Ties (within `tie_tolerance`) go to the earliest grid point.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)

SPLIT = "val"  # the only split thresholds are chosen on; test is evaluate_meal's, scored once with the choice


def choose(values: Sequence[float | None], higher_is_better: bool, tie_tolerance: float = 0.0) -> int:
    """The index of the earliest value within `tie_tolerance` of the best; None (no figure) never wins."""
    sign = 1.0 if higher_is_better else -1.0
    scores = [sign * v if v is not None else float("-inf") for v in values]
    if not scores or max(scores) == float("-inf"):
        raise ValueError("no grid point has a value for the objective")
    best = max(scores)
    return next(i for i, score in enumerate(scores) if score >= best - tie_tolerance)


def sweep_row(thresholds, summary: dict, objective: str) -> dict:
    """One line of the sweep table: the thresholds, then the figures that move with them."""
    model, base = summary["model"], summary["class_mean"]
    flat = dict(summary["detection"])
    flat.update({f"model_{k}": v for k, v in model.items() if not isinstance(v, (dict, list))})
    flat.update({f"class_mean_{k}": base[k] for k in ("meal_kcal_mape", "meal_within_20pct_kcal")})
    return {
        "food": thresholds.food,
        "coin": thresholds.coin,
        "overlap_iou": thresholds.overlap_iou,
        "objective": model[objective],
        **flat,
    }


@app.command()
def main(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.serving).")] = None,
    reports: Annotated[Path | None, typer.Option(help="Report folder (default: params paths.serving_reports).")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Photos per detector call.")] = 16,
) -> None:
    """Sweep the served thresholds on the val photos; write the chosen ones and the sweep table."""
    import itertools
    import logging

    import pandas as pd

    from pipelines.evaluate_meal import score_split
    from training.atomic import atomic_dir, atomic_file, write_json
    from training.bootstrap import ItemBootstrap
    from training.files import METRICS_FILE, SWEEP_FILE, THRESHOLDS_FILE
    from training.inference.plate import THRESHOLDS_KEY, Thresholds
    from training.meal_metrics import summarize

    setup_logging()
    log = logging.getLogger("pipelines.tune_serving")
    params = load_params()
    cfg, floor = params.tune_serving, params.register_detector.conf
    out, reports = out or params.paths.serving, reports or params.paths.serving_reports
    below = sorted({v for v in (*cfg.food, *cfg.coin) if v < floor})
    if below:
        log.warning(
            "grid values %s are below the detector's floor %s: they keep the same boxes as %s", below, floor, floor
        )

    grid = [
        Thresholds(food=food, coin=coin, overlap_iou=overlap)
        for food, coin, overlap in itertools.product(cfg.food, cfg.coin, cfg.overlap_iou)
    ]
    photos, scored = score_split(params, SPLIT, grid, batch)
    summaries = [summarize(foods, meals) for foods, meals in scored]
    sweep = pd.DataFrame([sweep_row(t, s, cfg.objective) for t, s in zip(grid, summaries)])
    best = choose(sweep["objective"].tolist(), cfg.higher_is_better, cfg.tie_tolerance)
    sweep.insert(3, "chosen", sweep.index == best)
    chosen = grid[best]

    foods, meals = scored[best]
    bootstrap = ItemBootstrap(photos["item_id"])
    n_items = int(photos["item_id"].nunique())
    choice = {
        THRESHOLDS_KEY: chosen.to_dict(),
        "chosen_on": SPLIT,
        "objective": cfg.objective,
        "higher_is_better": cfg.higher_is_better,
        "value": float(sweep.loc[best, "objective"]),
        "grid_points": len(grid),
        f"n_{SPLIT}_photos": len(photos),
        f"n_{SPLIT}_items": n_items,
    }
    with atomic_dir(out) as scratch:
        write_json(scratch / THRESHOLDS_FILE, choice)
    with atomic_file(reports / SWEEP_FILE) as handle:
        sweep.to_csv(handle, index=False)
    write_json(
        reports / METRICS_FILE,
        {
            **{k: v for k, v in choice.items() if k != THRESHOLDS_KEY},
            "thresholds": chosen.to_dict(),
            # The chosen point's figures on the photos it was chosen on: optimistic by construction; evaluate_meal
            # scores it on test.
            SPLIT: summarize(foods, meals, bootstrap),
            "bootstrap": bootstrap.spec(),
        },
    )
    typer.echo(
        f"tune_serving on {len(photos)} {SPLIT} photos of {n_items} items, {len(grid)} grid points: food "
        f"{chosen.food}, coin {chosen.coin}, overlap {chosen.overlap_iou} ({cfg.objective} "
        f"{choice['value']:.3f}; the first grid point {sweep.loc[0, 'objective']:.3f})"
    )


if __name__ == "__main__":
    run(app)
