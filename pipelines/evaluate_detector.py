"""Stage evaluate_detector: end-to-end detector metrics on the held-out test items, with the baseline beside."""

from __future__ import annotations

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
    """Run localiser + crop classifier on every test photo; write metrics.json and plots."""
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from training.atomic import write_json
    from training.data.crop_features import load_features
    from training.data.ecustfd import load_manifest
    from training.detector.metrics import Labeled, food_top1, mean_ap, recall
    from training.detector.report import annotated_grid, confusion_plot
    from training.files import METRICS_FILE
    from training.inference.crop_classifier import WEIGHTS_FILE, CropClassifier
    from training.inference.food_detector import FoodDetector
    from training.inference.labels import CLASSES, COIN, FOOD_TYPES
    from training.inference.localiser import FOOD

    setup_logging()
    params = load_params()
    paths, cfg = params.paths, params.train_detector
    reports = reports or paths.detector_reports
    reports.mkdir(parents=True, exist_ok=True)
    images, objects = load_manifest(paths.prepared)
    test = images[images["split"] == "test"].reset_index(drop=True)
    truths = [
        Labeled(o.image, o.label, o.xmin, o.ymin, o.xmax, o.ymax)
        for o in objects[objects["split"] == "test"].itertuples()
    ]

    detector = FoodDetector.from_dirs(
        paths.detector, paths.backbone, imgsz=cfg.active.imgsz, pad_fraction=params.extract_features.pad_fraction
    )
    predictions, samples = [], []
    sample_ids = set(test.groupby("item_id").head(1)["image"].head(16))
    for start in tqdm(range(0, len(test), batch), desc="test photos", unit="batch"):
        rows = test.iloc[start : start + batch]
        pictures = [Image.open(paths.raw_ecustfd / p).convert("RGB") for p in rows["image_path"]]
        for row, picture, boxes in zip(rows.itertuples(), pictures, detector(pictures)):
            mine = [
                Labeled(row.image, b.label, b.box.xmin, b.box.ymin, b.box.xmax, b.box.ymax, b.confidence) for b in boxes
            ]
            predictions += mine
            if row.image in sample_ids:
                keep = [p for p in mine if p.label == COIN][:1] + [
                    p for p in mine if p.label != COIN and p.score > 0.25
                ]
                samples.append((picture, [t for t in truths if t.image == row.image], keep))

    food_truths = [t for t in truths if t.label != COIN]
    top1, confusion = food_top1(predictions, food_truths, COIN)
    ap = mean_ap(predictions, truths, CLASSES)

    def to_food(boxes):
        return [
            Labeled(b.image, FOOD if b.label != COIN else COIN, b.xmin, b.ymin, b.xmax, b.ymax, b.score) for b in boxes
        ]

    localiser_ap = mean_ap(to_food(predictions), to_food(truths), [FOOD, COIN])

    index, features = load_features(paths.features)
    classifier = CropClassifier.load(paths.detector / WEIGHTS_FILE)
    is_test = (index["split"] == "test").to_numpy()
    gt_crop_top1 = float(
        np.mean(np.array(classifier.predict(features[is_test])) == index.loc[is_test, "label"].to_numpy())
    )
    train_labels = objects[(objects["split"] == "train") & (objects["label"] != COIN)]["label"]
    majority = train_labels.value_counts().idxmax()
    baseline = float(np.mean([t.label == majority for t in food_truths]))

    metrics = {
        "profile": cfg.profile,
        "n_test_items": int(test["item_id"].nunique()),
        "n_test_images": len(test),
        "test": {
            "food_top1": top1,
            "map50": ap["map50"],
            "map50_95": ap["map50_95"],
            "coin_recall": recall(predictions, truths, COIN),
            "per_class": ap["per_class"],
            "classifier_top1_on_true_boxes": gt_crop_top1,
            "localiser_map50": localiser_ap["map50"],
            "localiser_map50_95": localiser_ap["map50_95"],
        },
        "baseline": {"food_top1": baseline, "rule": f"always '{majority}', the most common training food"},
    }
    write_json(reports / METRICS_FILE, metrics)
    confusion_plot(confusion, list(FOOD_TYPES), reports / "confusion_matrix.png")
    annotated_grid(samples, reports / "test_samples.png")
    typer.echo(
        f"evaluate_detector ({cfg.profile}) on {metrics['n_test_images']} photos of {metrics['n_test_items']} held-out items: "
        f"food top-1 {top1:.3f} (baseline {baseline:.3f}), mAP50 {ap['map50']:.3f}, mAP50-95 {ap['map50_95']:.3f}, "
        f"coin recall {metrics['test']['coin_recall']:.3f}; classifier on true boxes {gt_crop_top1:.3f}"
    )


if __name__ == "__main__":
    run(app)
