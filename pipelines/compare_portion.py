"""Stage compare_portion: frozen vs fine-tuned vs two-photo portion estimates, CV over train+val and test, photo and
item level, with item-bootstrap intervals, per-class tables and a predicted-vs-true plot each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


def scatter(frame, path: Path, title: str) -> None:
    """Predicted (80 % interval) against true grams, the ±20 % band shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    yerr = [frame["grams"] - frame["low"], frame["high"] - frame["grams"]]
    ax.errorbar(frame["weight_g"], frame["grams"], yerr=yerr, fmt="o", ms=3, alpha=0.35, elinewidth=0.5)
    top = max(frame["weight_g"].max(), frame["grams"].max()) * 1.05
    ax.plot([0, top], [0, top], "k--", lw=1)
    ax.fill_between([0, top], [0, top * 0.8], [0, top * 1.2], color="green", alpha=0.1, label="±20 %")
    ax.set(xlabel="true grams", ylabel="predicted grams (80 % interval)", title=title, xlim=(0, top), ylim=(0, top))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@app.command()
def main(
    reports: Annotated[Path | None, typer.Option(help="Report folder (default: params paths.portion_reports).")] = None,
) -> None:
    """Score both single-photo models and their two-photo stacks on the same rows; say which CV prefers."""
    import numpy as np
    import pandas as pd

    from nutrition import NutritionTable
    from training.atomic import write_json
    from training.data.crop_features import load_features
    from training.data.ecustfd import load_manifest
    from training.files import COMPARISON_FILE, CV_PREDICTIONS_FILE, PER_CLASS_FILE
    from training.inference.portion_estimator import PortionEstimator
    from training.inference.tuned_portion import TunedPortionEstimator
    from training.lineage import data_version
    from training.portion.comparison import choose, single_photo_section, two_photo_section
    from training.portion.finetune import predict_log
    from training.portion.fit import portion_rows
    from training.portion.trunk_cache import load_activations

    setup_logging()
    params = load_params()
    paths = params.paths
    reports = reports or paths.portion_reports
    reports.mkdir(parents=True, exist_ok=True)
    table = NutritionTable.load(paths.nutrition)
    images, _ = load_manifest(paths.prepared)
    index, features = load_features(paths.features)
    trunk_index, activations = load_activations(paths.trunk)
    if not trunk_index[["image", "xmin", "ymin"]].equals(index[["image", "xmin", "ymin"]]):
        raise ValueError(f"{paths.trunk} and {paths.features} list different crops: rerun cache_trunk")
    rows = portion_rows(index, images).merge(images[["image", "shot"]], on="image", how="left")
    test = ((rows["reference"] == "coin") & (rows["split"] == "test")).to_numpy()
    test_rows = rows[test].reset_index(drop=True)
    test_acts = np.asarray(activations[:, np.flatnonzero(test)], np.float32)

    frozen, tuned = PortionEstimator.load(paths.portion), TunedPortionEstimator.load(paths.portion_tuned)
    test_log = {
        "frozen": np.log(frozen.predict_frame(test_rows, features[test])["grams"].to_numpy()),
        "fine_tuned": predict_log(tuned, test_rows, test_acts),
    }
    keys = ["image", "item_id", "label"]
    sections, two_photo, frames, errors = {}, {}, {}, {}
    for name, folder in (("frozen", paths.portion), ("fine_tuned", paths.portion_tuned)):
        oof = pd.read_parquet(folder / CV_PREDICTIONS_FILE).dropna(subset=["grams"])
        cv_rows = oof.merge(rows.drop(columns=["weight_g", "view"]).drop_duplicates(keys), on=keys, how="left")
        cv_log = np.log(cv_rows["grams"].to_numpy())
        errors[name] = cv_rows[keys].assign(error=cv_log - np.log(cv_rows["weight_g"].to_numpy()))
        sections[name], frames[name] = single_photo_section(cv_rows, cv_log, test_rows, test_log[name], table.kcal)
        two_photo[name], test_pairs, frames[f"two_photo_{name}"] = two_photo_section(
            cv_rows, cv_log, test_rows, test_log[name], table.kcal
        )
    cv_mape = {name: s["cv"]["photo"]["mass_mape"] for name, s in sections.items()}
    chosen = choose(cv_mape, params.register_portion.min_cv_gain_over_frozen)
    both = errors["frozen"].merge(errors["fine_tuned"], on=keys, suffixes=("_frozen", "_tuned"))
    metrics = {
        "data_version": data_version(),
        # near 1: the fine-tuned features misjudge the same items the frozen ones do
        "cv_log_error_correlation": float(np.corrcoef(both["error_frozen"], both["error_tuned"])[0, 1]),
        "chosen_by_cv": chosen,
        "min_cv_gain_over_frozen": params.register_portion.min_cv_gain_over_frozen,
        "single_photo": sections,
        "two_photo": two_photo,
        "n_test_items": int(test_rows["item_id"].nunique()),
        "n_test_boxes": len(test_rows),
        "note": (
            "cv: out-of-fold estimates of train+val items on train_portion's item-grouped folds (the fine-tuned "
            "model's CV also chose its depth, learning rate and epochs, so it is slightly optimistic); test: the "
            "final models, scored once. two_photo: a top and a side photo of one item and shot, both estimated by "
            "that single-photo model, stacked with the top x side volume law; top_alone is the top photo of the same "
            "pairs. Intervals: 95 % item bootstrap. error_makeup: mean squared log error split into per-item bias "
            "and photo-to-photo spread."
        ),
    }
    write_json(reports / COMPARISON_FILE, metrics)
    per_class = pd.DataFrame(
        {
            f"{name} test MAPE": {k: v["mass_mape"] for k, v in s["test_per_class"].items()}
            for name, s in sections.items()
        }
        | {
            f"two-photo ({name}) test MAPE": {k: v["mass_mape"] for k, v in s["test_per_class"].items()}
            for name, s in two_photo.items()
        }
        | {"test photos": {k: v["n"] for k, v in sections["frozen"]["test_per_class"].items()}}
    )
    per_class.rename_axis("food").to_csv(reports / PER_CLASS_FILE, float_format="%.4f")
    for name, frame in frames.items():
        truth = test_pairs if name.startswith("two_photo") else test_rows
        scatter(truth[["weight_g"]].join(frame), reports / f"predicted_vs_true_{name}.png", name.replace("_", " "))
    line = ", ".join(
        f"{name} CV {s['cv']['photo']['mass_mape']:.3f} test {s['test']['photo']['mass_mape']:.3f}"
        for name, s in sections.items()
    )
    pair_line = ", ".join(
        f"{name} pairs CV {s['cv']['photo']['mass_mape']:.3f} (top alone {s['cv']['top_alone']['mass_mape']:.3f}) "
        f"test {s['test']['photo']['mass_mape']:.3f}"
        for name, s in two_photo.items()
    )
    typer.echo(f"compare_portion: {line}; two-photo: {pair_line}; CV chooses {chosen} (register_portion registers it)")


if __name__ == "__main__":
    run(app)
