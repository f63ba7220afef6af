"""The ECUSTFD photos' scale as if they had no coin: the reference `find_reference` finds with the coin ignored
(a card, the plate, or none), and how far its scale is from the coin's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from training.inference.boxes import Box
from training.inference.labels import COIN_DIAMETER_MM
from training.inference.portion_features import Scale
from training.inference.references import ECUSTFD_PLATES_MM, ReferenceSettings, find_reference

ECUSTFD_REFERENCES = ReferenceSettings(plate_mm=ECUSTFD_PLATES_MM)


def photo_scales(
    images: pd.DataFrame, foods: pd.DataFrame, root: Path, settings: ReferenceSettings = ECUSTFD_REFERENCES
) -> dict[str, Scale]:
    """Each photo's scale with its coin ignored. images: image, image_path (under `root`); foods: the food
    boxes (image, xmin, ymin, xmax, ymax) the finder starts from."""
    boxes = {
        image: [Box(r.xmin, r.ymin, r.xmax, r.ymax) for r in group.itertuples()]
        for image, group in foods.groupby("image")
    }
    scales = {}
    for r in images.itertuples():
        with Image.open(Path(root) / r.image_path) as photo:
            scales[r.image] = find_reference(photo.convert("RGB"), None, boxes.get(r.image, []), settings)
    return scales


def finder_accuracy(images: pd.DataFrame, scales: dict[str, Scale]) -> dict:
    """How the coin-free scale compares with the coin's, on the photos with a coin: how often each reference
    kind was found, and the plate's |log(mm/px ÷ coin mm/px)|."""
    coin = images.dropna(subset=["coin_xmin"])
    coin_mm = COIN_DIAMETER_MM / np.maximum(
        coin["coin_xmax"] - coin["coin_xmin"], coin["coin_ymax"] - coin["coin_ymin"]
    )
    kinds = pd.Series([scales[i].kind for i in coin["image"]])
    out = {"n_photos": len(coin), "found_share": {k: float((kinds == k).mean()) for k in ("card", "plate", "none")}}
    plate = (kinds == "plate").to_numpy()
    if plate.any():
        ratio = np.array([scales[i].mm_per_px for i in coin["image"][plate]]) / coin_mm.to_numpy()[plate]
        error = np.abs(np.log(ratio))
        out["plate"] = {
            "median_abs_log_error": float(np.median(error)),
            "mean_abs_log_error": float(error.mean()),
            "within_5pct": float((error <= np.log(1.05)).mean()),
            "within_10pct": float((error <= np.log(1.1)).mean()),
            "median_ratio_to_coin": float(np.median(ratio)),
            "found_share_by_view": {
                view: float(plate[(coin["view"] == view).to_numpy()].mean()) for view in sorted(coin["view"].unique())
            },
        }
    return out


def no_coin_predictions(
    estimator, index_rows: pd.DataFrame, images: pd.DataFrame, features: np.ndarray, scales, typical
):
    """Each way of sizing the same food boxes without (or with) their coin: rows and grams/low/high per way.

    index_rows: the boxes (crop index rows of photos with a coin), features: their crop features. Ways:
    coin (the network on the coin's scale); plate (the network on the plate's scale, range widened; only the
    photos where a plate was found); coin_on_plate_photos (the coin, on those photos); served_no_coin (what a
    photo without a coin gets: plate where found, else the class prior); class_prior; typical_framing (the old
    guess: ECUSTFD's usual camera distance); size_prior (the coin's scale, the food taken as one the model never
    saw: each food's own items left out of the prior).
    """
    from training.inference.portion_estimator import Z80
    from training.portion.fit import portion_rows
    from training.portion.priors import class_prior_frame, leave_food_out_log_grams

    coin = portion_rows(index_rows, images)
    on_ref = portion_rows(index_rows, images, scales=scales)
    found = (on_ref["reference"] != "none").to_numpy()
    widen = estimator.meta.get("plate_sigma", 0.0)
    coin_pred = estimator.predict_frame(coin, features)
    prior = class_prior_frame(coin, estimator.meta["class_prior"], Z80)
    plate_pred = prior.copy()
    if found.any():
        plate_pred.loc[found] = estimator.predict_frame(
            on_ref[found].reset_index(drop=True), features[found], np.full(found.sum(), widen)
        ).to_numpy()
    typical_rows = portion_rows(index_rows, images, typical_mm_per_px=typical)
    typical_pred = estimator.predict_frame(
        typical_rows, features, np.full(len(typical_rows), estimator.meta["no_reference_sigma"])
    )
    agnostic = estimator.meta["agnostic_prior"]
    mu = leave_food_out_log_grams(coin, agnostic["slope"], agnostic["intercepts"])
    half = agnostic["log_half_width"]
    size_pred = pd.DataFrame({"grams": np.exp(mu), "low": np.exp(mu - half), "high": np.exp(mu + half)})
    sub = lambda frame: frame[found].reset_index(drop=True)  # noqa: E731
    return {
        "coin": (coin, coin_pred),
        "plate": (sub(coin), sub(plate_pred)),
        "coin_on_plate_photos": (sub(coin), sub(coin_pred)),
        "served_no_coin": (coin, plate_pred),
        "class_prior": (coin, prior),
        "typical_framing": (coin, typical_pred),
        "size_prior": (coin, size_pred),
    }
