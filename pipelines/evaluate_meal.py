"""Stage evaluate_meal: what the served models tell a person about each held-out test photo, scored end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    reports: Annotated[Path | None, typer.Option(help="Report folder (default: params paths.meal_reports).")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Photos per detector call.")] = 16,
) -> None:
    """Detector boxes, names and coin → portion estimator → nutrition, on every test photo; model beside class-mean grams."""
    import json

    import pandas as pd
    from PIL import Image
    from tqdm import tqdm

    from nutrition import NutritionTable
    from training.atomic import write_json
    from training.data.ecustfd import load_manifest
    from training.files import BASELINES_FILE, METRICS_FILE
    from training.inference.food_detector import FoodDetector
    from training.inference.labels import COIN
    from training.inference.plate import PlateModels, Thresholds
    from training.inference.portion_estimator import PortionEstimator
    from training.meal_metrics import ServedFood, TrueFood, score_photo, summarize

    setup_logging()
    params = load_params()
    paths = params.paths
    reports = reports or paths.meal_reports
    reports.mkdir(parents=True, exist_ok=True)
    table = NutritionTable.load(paths.nutrition)
    class_mean = json.loads((paths.portion / BASELINES_FILE).read_text())["class_mean"]["mean"]

    images, objects = load_manifest(paths.prepared)
    test = images[images["split"] == "test"].reset_index(drop=True)
    truths = {
        image: [TrueFood(o.label, (o.xmin, o.ymin, o.xmax, o.ymax), o.weight_g) for o in group.itertuples()]
        for image, group in objects[(objects["split"] == "test") & (objects["label"] != COIN)].groupby("image")
    }

    detector = FoodDetector.from_dirs(
        paths.detector,
        paths.backbone,
        imgsz=params.train_detector.active.imgsz,
        conf=params.register_detector.conf,
        pad_fraction=params.extract_features.pad_fraction,
    )
    models = PlateModels(detector, PortionEstimator.load(paths.portion), Thresholds())  # the served defaults
    foods, meals = [], []
    for start in tqdm(range(0, len(test), batch), desc="test photos", unit="batch"):
        rows = test.iloc[start : start + batch]
        pictures = [Image.open(paths.raw_ecustfd / p).convert("RGB") for p in rows["image_path"]]
        for row, findings in zip(rows.itertuples(), models(pictures)):
            served = [ServedFood(f.name, f.box, f.grams, f.grams_low, f.grams_high) for f in findings.foods]
            photo_foods, meal = score_photo(
                row.image,
                truths.get(row.image, []),
                served,
                findings.reference,
                table.kcal,
                lambda name: class_mean[name],
            )
            foods += photo_foods
            meals.append(meal)

    foods, meals = pd.DataFrame(foods), pd.DataFrame(meals)
    metrics = {"n_test_items": int(test["item_id"].nunique()), **summarize(foods, meals)}
    write_json(reports / METRICS_FILE, metrics)
    foods.to_csv(reports / "foods.csv", index=False)
    meals.to_csv(reports / "meals.csv", index=False)
    d, m, c = metrics["detection"], metrics["model"], metrics["class_mean"]
    typer.echo(
        f"evaluate_meal on {metrics['n_photos']} photos of {metrics['n_test_items']} held-out items, served models end to end — "
        f"foods found {d['food_found']:.3f} (named right {d['food_found_and_named']:.3f}), coin found {d['coin_found']:.3f}; "
        f"mass MAPE model {m['mass_mape']:.3f} vs class-mean {c['mass_mape']:.3f}; meal kcal within ±20 %: "
        f"model {m['meal_within_20pct_kcal']:.3f} vs class-mean {c['meal_within_20pct_kcal']:.3f}"
    )


if __name__ == "__main__":
    run(app)
