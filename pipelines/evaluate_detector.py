"""Stage evaluate_detector: end-to-end detector metrics on the held-out test items (with the baseline beside and
bootstrap intervals) and on the validation items (what the registration gate reads)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    reports: Annotated[
        Path | None, typer.Option(help="Report folder (default: params paths.detector_reports).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Photos per localiser call.")] = 16,
) -> None:
    """Run localiser + crop classifier on every test and val photo; write metrics.json and plots.

    The headline food top-1 scores what the server lists (served thresholds, duplicate boxes suppressed), each
    box standing for one food at most; mAP ranks every box down to the served floor (`register_detector.conf`).
    Test figures carry item-level bootstrap intervals; `val` holds the same figures for the registration gate.
    """
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from training.atomic import write_json
    from training.bootstrap import ItemBootstrap, ci_key
    from training.data.crop_features import load_features
    from training.data.ecustfd import load_manifest
    from training.detector.metrics import Labeled, food_top1, match_one_to_one, mean_ap, recall, resampled_map50
    from training.detector.report import annotated_grid, confusion_plot
    from training.files import METRICS_FILE, THRESHOLDS_FILE
    from training.inference.crop_classifier import WEIGHTS_FILE, CropClassifier
    from training.inference.food_detector import FoodDetector
    from training.inference.labels import CLASSES, COIN, FOOD_TYPES
    from training.inference.localiser import FOOD
    from training.inference.plate import served_coin, served_foods, served_thresholds
    from training.lineage import data_version

    setup_logging()
    params = load_params()
    paths, cfg = params.paths, params.train_detector
    reports = reports or paths.detector_reports
    reports.mkdir(parents=True, exist_ok=True)
    images, objects = load_manifest(paths.prepared)
    detector = FoodDetector.from_dirs(
        paths.detector,
        paths.backbone,
        imgsz=cfg.active.imgsz,
        conf=params.register_detector.conf,  # the served floor, as registered
        pad_fraction=params.extract_features.pad_fraction,
        namer_dir=paths.namer,  # the served open-set namer: an `unknown` answer is a wrong name here
    )
    thresholds = served_thresholds(paths.serving / THRESHOLDS_FILE)  # chosen on the val photos (tune_serving)
    index, features = load_features(paths.features)
    classifier = CropClassifier.load(paths.detector / WEIGHTS_FILE)
    train_labels = objects[(objects["split"] == "train") & (objects["label"] != COIN)]["label"]
    majority = train_labels.value_counts().idxmax()

    def labeled(image: str, b) -> Labeled:
        return Labeled(image, b.label, b.box.xmin, b.box.ymin, b.box.xmax, b.box.ymax, b.confidence)

    def to_food(boxes):
        return [
            Labeled(b.image, FOOD if b.label != COIN else COIN, b.xmin, b.ymin, b.xmax, b.ymax, b.score) for b in boxes
        ]

    def score(split: str, samples: list | None = None) -> dict:
        """Every figure of one split, and the rows behind them (for the bootstrap and the plots)."""
        photos = images[images["split"] == split].reset_index(drop=True)
        truths = [
            Labeled(o.image, o.label, o.xmin, o.ymin, o.xmax, o.ymax)
            for o in objects[objects["split"] == split].itertuples()
        ]
        predictions, served = [], []  # every box down to the floor; the food boxes the reply lists
        sample_ids = set(photos.groupby("item_id").head(1)["image"].head(16)) if samples is not None else set()
        for start in tqdm(range(0, len(photos), batch), desc=f"{split} photos", unit="batch"):
            rows = photos.iloc[start : start + batch]
            pictures = [Image.open(paths.raw_ecustfd / p).convert("RGB") for p in rows["image_path"]]
            for row, picture, boxes in zip(rows.itertuples(), pictures, detector(pictures)):
                predictions += [labeled(row.image, b) for b in boxes]
                listed = [labeled(row.image, b) for b in served_foods(boxes, thresholds)]
                served += listed
                if row.image in sample_ids:
                    coin = served_coin(boxes, thresholds)
                    keep = ([labeled(row.image, coin)] if coin else []) + listed
                    samples.append((picture, [t for t in truths if t.image == row.image], keep))

        food_truths = [t for t in truths if t.label != COIN]
        matched = match_one_to_one(served, food_truths)
        false_per_photo = photos["image"].map(Counter(b.image for b in matched.false)).fillna(0).to_numpy(float)
        lenient, _ = food_top1(predictions, food_truths, COIN)
        ap = mean_ap(predictions, truths, CLASSES)
        localiser_ap = mean_ap(to_food(predictions), to_food(truths), [FOOD, COIN])
        in_split = (index["split"] == split).to_numpy()
        crop_top1 = float(
            np.mean(np.array(classifier.predict(features[in_split])) == index.loc[in_split, "label"].to_numpy())
        )
        correct = matched.correct(food_truths)
        figures = {
            "food_top1": float(correct.mean()) if len(correct) else float("nan"),
            "food_top1_any_box": lenient,
            "false_foods_per_photo": float(false_per_photo.mean()),
            "map50": ap["map50"],
            "map50_95": ap["map50_95"],
            "coin_recall": recall(predictions, truths, COIN),
            "per_class": ap["per_class"],
            "classifier_top1_on_true_boxes": crop_top1,
            "localiser_map50": localiser_ap["map50"],
            "localiser_map50_95": localiser_ap["map50_95"],
        }
        item_of = dict(zip(photos["image"], photos["item_id"]))
        return {
            "figures": figures,
            "photos": photos,
            "truths": truths,
            "food_truths": food_truths,
            "food_items": [item_of[t.image] for t in food_truths],
            "predictions": predictions,
            "correct": correct,
            "false_per_photo": false_per_photo,
            "confusion": matched.confusion(food_truths),
            "is_majority": np.array([t.label == majority for t in food_truths], dtype=bool),
        }

    samples: list = []
    test = score("test", samples)
    val = score("val")  # the same figures on the validation items: what registration gates on

    photos = test["photos"]
    bootstrap = ItemBootstrap(photos["item_id"])
    figures = test["figures"]
    figures[ci_key("food_top1")] = bootstrap.mean(test["correct"], test["food_items"])
    figures[ci_key("false_foods_per_photo")] = bootstrap.mean(test["false_per_photo"], photos["item_id"].tolist())
    figures[ci_key("map50")] = bootstrap.interval(
        resampled_map50(
            test["predictions"],
            test["truths"],
            CLASSES,
            photos["image"].tolist(),
            bootstrap.weights(photos["item_id"].tolist()),
        )
    )
    baseline = float(test["is_majority"].mean())

    metrics = {
        "profile": cfg.profile,
        "data_version": data_version(),
        "conf": params.register_detector.conf,
        "thresholds": asdict(thresholds),
        "n_test_items": int(photos["item_id"].nunique()),
        "n_test_images": len(photos),
        "test": figures,
        "bootstrap": bootstrap.spec(),
        "n_val_items": int(val["photos"]["item_id"].nunique()),
        "n_val_images": len(val["photos"]),
        "val": val["figures"],
        "baseline": {
            "food_top1": baseline,
            ci_key("food_top1"): bootstrap.mean(test["is_majority"], test["food_items"]),
            "rule": f"always '{majority}', the most common training food",
        },
    }
    write_json(reports / METRICS_FILE, metrics)
    confusion_plot(test["confusion"], list(FOOD_TYPES), reports / "confusion_matrix.png")
    annotated_grid(samples, reports / "test_samples.png")
    top1, low_high = figures["food_top1"], figures[ci_key("food_top1")]
    typer.echo(
        f"evaluate_detector ({cfg.profile}) on {metrics['n_test_images']} photos of {metrics['n_test_items']} held-out items: "
        f"food top-1 as served {top1:.3f} [{low_high[0]:.3f}, {low_high[1]:.3f}] "
        f"(any box {figures['food_top1_any_box']:.3f}, baseline {baseline:.3f}), "
        f"false foods per photo {figures['false_foods_per_photo']:.3f}, "
        f"mAP50 {figures['map50']:.3f}, mAP50-95 {figures['map50_95']:.3f}, coin recall {figures['coin_recall']:.3f}; "
        f"classifier on true boxes {figures['classifier_top1_on_true_boxes']:.3f}; "
        f"val: food top-1 {val['figures']['food_top1']:.3f}, mAP50 {val['figures']['map50']:.3f}"
    )


if __name__ == "__main__":
    run(app)
