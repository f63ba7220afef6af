"""The learning curve's figures (per way and k, per fold and pooled, with item-bootstrap intervals) and its plot."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from training.bootstrap import ItemBootstrap, ci_key
from training.openset.learning_curve import GALLERY, GALLERY_UNKNOWN_ONLY, RETRAIN, gallery_answers, outcome_columns

FIGURES = (
    "new_top1",
    "new_answered_unknown",
    "known_top1",
    "known_rejected",
    "known_named_new",
    "other_unknown_named_new",
)


def way_answers(scored: pd.DataFrame, way: str, gallery_thresholds: Mapping[str, float]) -> np.ndarray:
    """Each row's answer under `way` (None where the way was not scored: retraining beyond its repeats, or val)."""
    if way == RETRAIN:
        return scored[RETRAIN].to_numpy(dtype=object)
    return gallery_answers(
        scored["namer"].to_numpy(dtype=object),
        scored["cosine"].to_numpy(),
        scored["food"].to_numpy(dtype=object),
        gallery_thresholds[way],
        way == GALLERY_UNKNOWN_ONLY,
    )


def item_mean_interval(bootstrap: ItemBootstrap, values: np.ndarray, items: np.ndarray) -> list[float]:
    """The item-bootstrap interval of the mean of `values` over rows: rows summed per item first, so a table of
    many repeats costs one [resamples, items] product."""
    frame = pd.DataFrame({"item": items, "value": values}).groupby("item")["value"].agg(["sum", "count"])
    weights = bootstrap.weights(frame.index.tolist())
    with np.errstate(invalid="ignore", divide="ignore"):
        total = weights @ frame["count"].to_numpy(dtype=np.float64)
        return bootstrap.interval(np.where(total > 0, (weights @ frame["sum"].to_numpy()) / total, np.nan))


def curve_figures(scored: pd.DataFrame, answer: np.ndarray, bootstrap: ItemBootstrap) -> dict[str, dict]:
    """{"k<k>": figures} over `scored` (test rows), each figure with its interval; rows without an answer skipped."""
    out = {}
    for k in sorted(set(scored["k"])):
        mask = (scored["k"] == k).to_numpy() & np.array([a is not None for a in answer])
        part = scored[mask]
        if not len(part):
            continue
        columns = outcome_columns(
            part["kind"].to_numpy(),
            part["label"].to_numpy(dtype=object),
            answer[mask],
            part["food"].to_numpy(dtype=object),
        )
        items = part["item_id"].to_numpy()
        figures: dict = {
            "n_draws": int(part[["fold", "food", "repeat"]].drop_duplicates().shape[0]),
            "mean_labelled_crops": float(part.drop_duplicates(["fold", "food", "repeat"])["n_labelled"].mean()),
        }
        for name in FIGURES:
            values = columns[name]
            counted = ~np.isnan(values)
            figures[name] = float(values[counted].mean()) if counted.any() else None
            figures[ci_key(name)] = (
                item_mean_interval(bootstrap, values[counted], items[counted]) if counted.any() else None
            )
        out[f"k{k}"] = figures
    return out


def goal_check(pooled: dict, goal_k: int, new_top1: float, known_drop: float) -> dict:
    """Whether a way meets the goal: new-food top-1 at k=`goal_k` at least `new_top1`, and at no k a known top-1
    more than `known_drop` below the namer's (k=0)."""
    at = pooled.get(f"k{goal_k}")
    base = pooled["k0"]["known_top1"]
    worst = max(base - f["known_top1"] for key, f in pooled.items() if key != "k0")
    return {
        "new_top1": at["new_top1"] if at else None,
        "largest_known_top1_drop": float(worst),
        "met": bool(at is not None and at["new_top1"] >= new_top1 and worst <= known_drop),
    }


def curve_table(per_way: dict[str, dict], fold: str) -> list[dict]:
    """Flat rows (way, fold, k, figures without intervals) for the CSV beside the JSON."""
    return [
        {"way": way, "fold": fold, "k": int(key[1:]), **{n: f[n] for n in ("n_draws", *FIGURES)}}
        for way, by_k in per_way.items()
        for key, f in by_k.items()
    ]


def plot_curve(pooled: dict[str, dict], goal_k: int, goal_new_top1: float, path: Path) -> None:
    """New-food top-1 (with intervals) and known-food top-1 against k, one colour per way."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {GALLERY: "tab:blue", GALLERY_UNKNOWN_ONLY: "tab:green", RETRAIN: "tab:orange"}
    for way, by_k in pooled.items():
        ks = [int(key[1:]) for key in by_k]
        new = np.array([f["new_top1"] for f in by_k.values()])
        low = np.array([f[ci_key("new_top1")][0] for f in by_k.values()])
        high = np.array([f[ci_key("new_top1")][1] for f in by_k.values()])
        colour = colours.get(way)
        ax.errorbar(
            ks, new, yerr=[new - low, high - new], marker="o", capsize=3, color=colour, label=f"{way}: new food"
        )
        known = [f["known_top1"] for f in by_k.values()]
        ax.plot(ks, known, linestyle="--", marker="s", color=colour, alpha=0.6, label=f"{way}: known foods")
    ax.axhline(goal_new_top1, color="grey", linestyle=":", label=f"goal at k={goal_k}")
    ax.set_xlabel("labelled photos of the new food (k)")
    ax.set_ylabel("top-1 on test crops")
    ax.set_ylim(0, 1.02)
    ax.set_title("Learning a food from labelled photos (leave-foods-out, ECUSTFD)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
