"""Stage evaluate_meal: what the served models tell a person about each held-out test photo, scored end to end.

`score_split` is the served path, scored: tune_serving runs it on the validation photos to choose the thresholds
this stage then scores on test.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

if TYPE_CHECKING:
    import pandas as pd

    from training.config import Params
    from training.inference.food_detector import FoodDetector
    from training.inference.plate import Thresholds

app = stage_app(__doc__)


def served_detector(params: Params) -> FoodDetector:
    """The food detector as register_detector ships it and serving runs it: image size, confidence floor, crop
    padding from params, the open-set namer of evaluate_openset (which may answer `unknown`), and the localiser and
    backbone on ONNX Runtime (serving's default runtime, `PLATE_SERVING_RUNTIME`)."""
    from training.inference.food_detector import FoodDetector
    from training.inference.onnx_runtime import use_onnx

    return use_onnx(
        FoodDetector.from_dirs(
            params.paths.detector,
            params.paths.backbone,
            imgsz=params.train_detector.active.imgsz,
            conf=params.register_detector.conf,
            pad_fraction=params.extract_features.pad_fraction,
            namer_dir=params.paths.namer,
        )
    )


def score_split(
    params: Params, split: str, grid: Sequence[Thresholds], batch: int = 16
) -> tuple[pd.DataFrame, list[tuple[pd.DataFrame, pd.DataFrame]]]:
    """Every photo of `split` through the served path (detector boxes, names and coin → portion estimator) under
    each thresholds of `grid`, scored against its annotations; the model's grams beside class-mean grams.

    The detector runs once per photo: its boxes do not depend on the thresholds, which `PlateModels.findings`
    applies afterwards. Returns the split's photos and, per thresholds in `grid`, one row per true food and one
    per meal (`training.meal_metrics.score_photo`), each with its item_id.
    """
    import json

    import numpy as np
    import pandas as pd
    from PIL import Image
    from tqdm import tqdm

    from nutrition import NutritionTable, UnknownFoodError
    from training.data.ecustfd import load_manifest
    from training.files import BASELINES_FILE
    from training.inference.labels import COIN
    from training.inference.plate import PlateModels
    from training.inference.portion_estimator import PortionEstimator
    from training.inference.references import ECUSTFD_PLATES_MM, ReferenceSettings
    from training.meal_metrics import ServedFood, TrueFood, score_photo

    paths = params.paths
    table = NutritionTable.load(paths.nutrition)
    class_mean = json.loads((paths.portion / BASELINES_FILE).read_text())["class_mean"]["mean"]
    agnostic_mean = float(np.mean(list(class_mean.values())))  # the baseline's grams for a food outside ECUSTFD
    ndb_of: dict[str, str] = {}  # foods named by the ImageNet head are priced by their NDB number

    def kcal_of(name: str, grams: float | None) -> float:
        """What the reply counts: nothing for an unknown food or one without grams (the bot asks about it)."""
        if not grams:
            return 0.0
        try:
            return table.kcal(name, grams)
        except UnknownFoodError:
            if name in ndb_of:
                return table.kcal(ndb_of[name], grams)
            return 0.0  # "unknown"

    images, objects = load_manifest(paths.prepared)
    photos = images[images["split"] == split].reset_index(drop=True)
    if photos.empty:
        raise ValueError(f"no {split} photos in {paths.prepared}")
    truths = {
        image: [TrueFood(o.label, (o.xmin, o.ymin, o.xmax, o.ymax), o.weight_g) for o in group.itertuples()]
        for image, group in objects[(objects["split"] == split) & (objects["label"] != COIN)].groupby("image")
    }

    detector = served_detector(params)
    estimator = PortionEstimator.load(paths.portion)
    # ECUSTFD's photos show its own plates (207 and 187 mm), not the dinner plate served photos are assumed to show
    references = ReferenceSettings(plate_mm=ECUSTFD_PLATES_MM)
    scored = [(PlateModels(detector, estimator, thresholds, references), [], []) for thresholds in grid]
    for start in tqdm(range(0, len(photos), batch), desc=f"{split} photos", unit="batch"):
        rows = photos.iloc[start : start + batch]
        pictures = [Image.open(paths.raw_ecustfd / p).convert("RGB") for p in rows["image_path"]]
        for row, picture, boxes in zip(rows.itertuples(), pictures, detector(pictures)):
            true_coin = None if pd.isna(row.coin_xmin) else (row.coin_xmin, row.coin_ymin, row.coin_xmax, row.coin_ymax)
            for models, foods, meals in scored:
                findings = models.findings(picture, boxes)
                ndb_of.update({f.name: f.ndb for f in findings.foods if f.ndb})
                # An unknown food without grams counts as 0 g, as the reply counts it: a full miss, never hidden.
                served = [
                    ServedFood(f.name, f.box, *(0.0 if g is None else g for g in (f.grams, f.grams_low, f.grams_high)))
                    for f in findings.foods
                ]
                photo_foods, meal = score_photo(
                    row.image,
                    truths.get(row.image, []),
                    served,
                    findings.reference,
                    kcal_of,
                    lambda name: class_mean.get(name, agnostic_mean),
                    reference_box=findings.reference_box,
                    true_coin=true_coin,
                )
                foods += [{**f, "item_id": row.item_id} for f in photo_foods]
                meals.append({**meal, "item_id": row.item_id})
    return photos, [(pd.DataFrame(foods), pd.DataFrame(meals)) for _, foods, meals in scored]


@app.command()
def main(
    reports: Annotated[Path | None, typer.Option(help="Report folder (default: params paths.meal_reports).")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Photos per detector call.")] = 16,
) -> None:
    """Detector boxes, names and coin → portion estimator → nutrition, on every test photo, under the thresholds
    tune_serving chose on the val photos; model beside class-mean grams."""
    from training.atomic import write_json
    from training.bootstrap import ItemBootstrap
    from training.files import METRICS_FILE, THRESHOLDS_FILE
    from training.inference.plate import served_thresholds
    from training.meal_metrics import summarize

    setup_logging()
    params = load_params()
    paths = params.paths
    reports = reports or paths.meal_reports
    reports.mkdir(parents=True, exist_ok=True)
    thresholds = served_thresholds(paths.serving / THRESHOLDS_FILE)
    test, [(foods, meals)] = score_split(params, "test", [thresholds], batch)

    bootstrap = ItemBootstrap(test["item_id"])
    metrics = {
        "n_test_items": int(test["item_id"].nunique()),
        "thresholds": thresholds.to_dict(),  # as served: chosen on the val photos (tune_serving)
        **summarize(foods, meals, bootstrap),
        "bootstrap": bootstrap.spec(),
    }
    write_json(reports / METRICS_FILE, metrics)
    foods.to_csv(reports / "foods.csv", index=False)
    meals.to_csv(reports / "meals.csv", index=False)
    d, m, c = metrics["detection"], metrics["model"], metrics["class_mean"]
    ci = lambda interval: f"[{interval[0]:.3f}, {interval[1]:.3f}]"  # noqa: E731
    typer.echo(
        f"evaluate_meal on {metrics['n_photos']} photos of {metrics['n_test_items']} held-out items, served models end to end — "
        f"foods found {d['food_found']:.3f} (named right {d['food_found_and_named']:.3f}), coin found {d['coin_found']:.3f}; "
        f"mass MAPE model {m['mass_mape']:.3f} vs class-mean {c['mass_mape']:.3f}; meal kcal within ±20 %: "
        f"model {m['meal_within_20pct_kcal']:.3f} {ci(m['meal_within_20pct_kcal_ci95'])} "
        f"vs class-mean {c['meal_within_20pct_kcal']:.3f} {ci(c['meal_within_20pct_kcal_ci95'])}"
    )


if __name__ == "__main__":
    run(app)
