"""Stage prepare: VOC XMLs + density.xls → manifest, item-grouped splits, YOLO dataset, data summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


def summarize(images, objects, splits) -> dict:
    """Counts per class and split, for reports/data/summary.json."""
    from training.data.splits import SPLITS
    from training.inference.labels import CLASSES, COIN, FOOD_TYPES

    merged = objects  # carries each photo's split
    per_class = {
        label: {split: int(n) for split, n in group.value_counts("split").items()}
        for label, group in merged.groupby("label")
    }
    return {
        "classes": list(CLASSES),
        "n_food_classes": len(FOOD_TYPES),
        "n_images": len(images),
        "n_items": int(images["item_id"].nunique()),
        "n_item_foods": int(objects.loc[objects["label"] != COIN, ["item_id", "label"]].drop_duplicates().shape[0]),
        "n_objects": len(objects),
        "images_without_coin": sorted(images.loc[images["coin_xmin"].isna(), "image"].tolist()),
        "annotation_repairs": images.attrs.get("repairs", []),
        "splits": {
            split: {
                "items": int((splits == split).sum()),
                "images": int((images["split"] == split).sum()),
                "objects": int((merged["split"] == split).sum()),
            }
            for split in SPLITS
        },
        "objects_per_class": per_class,
    }


@app.command()
def main(
    raw: Annotated[Path | None, typer.Option(help="ECUSTFD copy (default: params paths.raw_ecustfd).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.prepared).")] = None,
    reports: Annotated[Path | None, typer.Option(help="Report folder (default: params paths.data_reports).")] = None,
) -> None:
    """Parse annotations, split by item, and write the manifest and the YOLO dataset."""
    from training.atomic import atomic_dir, write_json
    from training.data.ecustfd import build_manifest
    from training.data.splits import assert_no_leakage, split_items
    from training.data.yolo_dataset import write_yolo_dataset
    from training.files import IMAGES_FILE, OBJECTS_FILE, SPLITS_FILE, SUMMARY_FILE, YOLO_DIR
    from training.inference.labels import CLASSES

    setup_logging()
    params = load_params()
    cfg = params.prepare
    raw = raw or params.paths.raw_ecustfd
    out = out or params.paths.prepared
    reports = reports or params.paths.data_reports

    images, objects = build_manifest(raw, progress=True)
    items = images[["item_id", "item_type"]].drop_duplicates()
    splits = split_items(items, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, seed=cfg.seed)
    repairs = images.attrs.get("repairs", [])
    images["split"] = images["item_id"].map(splits)
    images.attrs["repairs"] = repairs
    assert_no_leakage(images)
    objects = objects.merge(images[["image", "split"]], on="image")

    with atomic_dir(out) as scratch:
        images.to_parquet(scratch / IMAGES_FILE, index=False)
        objects.to_parquet(scratch / OBJECTS_FILE, index=False)
        splits.reset_index().merge(items, on="item_id").to_csv(scratch / SPLITS_FILE, index=False)
        write_yolo_dataset(
            images, objects, raw_root=raw, out=scratch / YOLO_DIR, class_names=CLASSES, image_mode=cfg.image_mode
        )
    summary = summarize(images, objects, splits)
    write_json(reports / SUMMARY_FILE, summary)
    parts = ", ".join(f"{s} {v['items']} items/{v['images']} photos" for s, v in summary["splits"].items())
    typer.echo(f"prepare: {summary['n_images']} photos of {summary['n_items']} items → {parts}; wrote {out}")


if __name__ == "__main__":
    run(app)
