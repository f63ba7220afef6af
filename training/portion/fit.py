"""Fit the portion estimator (and its baselines) on training items, select on validation items; calibrate its interval."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from training.inference.boxes import Box
from training.inference.portion_estimator import PortionEstimator, network
from training.inference.portion_features import (
    TRAINING_WIDTH_PX,
    Scale,
    coin_scale,
    design_matrix,
    fallback_scale,
    fit_size_prior,
    geometry,
    size_prior,
)
from training.portion.baselines import ClassMeanBaseline, GeometricBaseline
from training.portion.metrics import log_error

log = logging.getLogger(__name__)
TARGET_COVERAGE = 0.8


def scale_for(
    rows: pd.DataFrame, typical_mm_per_px: float | None = None, scales: Mapping[str, Scale] | None = None
) -> list[Scale]:
    """Each row's scale: `scales[image]` when given (the coin ignored: a plate, or none), else its coin (coin_*
    columns), or the old typical-framing guess when one is forced or the photo has no coin."""
    out = []
    for r in rows.itertuples():
        if scales is not None:
            out.append(scales.get(r.image, Scale("none", None)))
        elif typical_mm_per_px is None and not np.isnan(r.coin_xmin):
            out.append(coin_scale(Box(r.coin_xmin, r.coin_ymin, r.coin_xmax, r.coin_ymax), r.width, r.height))
        else:
            out.append(fallback_scale(r.width, typical_mm_per_px or 0.5))
    return out


def portion_rows(
    index: pd.DataFrame,
    images: pd.DataFrame,
    typical_mm_per_px: float | None = None,
    scales: Mapping[str, Scale] | None = None,
) -> pd.DataFrame:
    """Crop index + photo info + calibrated size (coin; the typical-framing guess when forced or absent; or the
    given per-photo `scales`, where a photo without a reference has no size: NaN w_cm/h_cm)."""
    rows = index.merge(
        images[["image", "width", "height", "coin_xmin", "coin_ymin", "coin_xmax", "coin_ymax"]], on="image", how="left"
    )
    found = scale_for(rows, typical_mm_per_px, scales)
    nan = {"w_cm": np.nan, "h_cm": np.nan}
    sizes = [
        geometry(Box(r.xmin, r.ymin, r.xmax, r.ymax), s) if s.mm_per_px is not None else nan
        for r, s in zip(rows.itertuples(), found)
    ]
    rows = rows.assign(
        reference=[s.kind for s in found],
        mm_per_px=[
            s.mm_per_px * r.width / TRAINING_WIDTH_PX if s.mm_per_px is not None else np.nan
            for s, r in zip(found, rows.itertuples())
        ],
    )
    return pd.concat([rows, pd.DataFrame(sizes)], axis=1)


def fit_pca(features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    mean = features.mean(axis=0)
    if k == 0:
        return mean, np.zeros((0, features.shape[1]), np.float32)
    _, _, vt = np.linalg.svd(features - mean, full_matrices=False)
    return mean, vt[:k]


def fit_member(
    x_train,
    y_train,
    x_val,
    y_val,
    *,
    hidden: int,
    dropout: float,
    lr: float,
    weight_decay: float,
    epochs: int,
    seed: int,
    patience: int = 40,
) -> tuple[dict, float]:
    """Train one network with Gaussian NLL on standardised log-grams; keep the epoch with the best validation MAPE.

    Returns:
        (state dict, best validation MAPE).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a net this small only loses time to thread hand-offs, badly so on a busy machine
    try:
        return _fit(torch, x_train, y_train, x_val, y_val, hidden, dropout, lr, weight_decay, epochs, seed, patience)
    finally:
        torch.set_num_threads(threads)


def _fit(torch, x_train, y_train, x_val, y_val, hidden, dropout, lr, weight_decay, epochs, seed, patience):
    torch.manual_seed(seed)
    net = network(x_train.shape[1], hidden, dropout)
    optim = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    # Standardised targets start the network near the answer instead of ~5 log-units away from it.
    y_mean, y_std = float(y_train.mean()), float(y_train.std()) + 1e-6
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(((y_train - y_mean) / y_std).astype(np.float32))
    xv = torch.from_numpy(x_val)
    loss_fn = torch.nn.GaussianNLLLoss()
    best, best_state, since = float("inf"), None, 0
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        for batch in torch.randperm(len(xt), generator=generator).split(64):
            out = net(xt[batch])
            loss = loss_fn(out[:, 0], yt[batch], torch.nn.functional.softplus(out[:, 1]) ** 2 + 1e-4)
            optim.zero_grad()
            loss.backward()
            optim.step()
        net.eval()
        with torch.no_grad():
            mape = float(np.mean(np.abs(np.exp(net(xv)[:, 0].numpy() * y_std + y_mean - y_val) - 1)))
        if mape < best - 1e-5:
            best, best_state, since = mape, {k: v.clone() for k, v in net.state_dict().items()}, 0
        else:
            since += 1
            if since >= patience:
                break
    best_state["y_mean"], best_state["y_std"] = torch.tensor(y_mean), torch.tensor(y_std)
    return best_state, best


def fit_estimator(
    train: pd.DataFrame,
    f_train: np.ndarray,
    val: pd.DataFrame,
    f_val: np.ndarray,
    cfg,
    members: int,
    typical_mm_per_px: float,
    val_no_ref: pd.DataFrame | None = None,
) -> tuple[PortionEstimator, list[dict], dict]:
    """Train an ensemble on `train`, early-stop and calibrate the interval on `val`.

    With `cfg.view_unknown_copies`, every training photo is seen a second time with its view hidden, so the
    model also answers for photos whose view nobody knows (every photo a person sends). With
    `cfg.size_prior_slope` set, every second member learns log grams relative to the class size prior
    (`fit_size_prior`) instead of log grams themselves: two inductive biases, one for typical items and one
    that scales with the box, averaged.
    """
    pca_mean, pca = fit_pca(f_train, cfg.pca_components)
    slope = getattr(cfg, "size_prior_slope", None)
    prior = {"slope": float(slope), "intercepts": fit_size_prior(train, slope)} if slope is not None else None
    prior_members = [prior is not None and m % 2 == 1 for m in range(members)]
    if getattr(cfg, "view_unknown_copies", False):
        train, f_train = (
            pd.concat([train, train.assign(view=None)], ignore_index=True),
            np.concatenate([f_train, f_train]),
        )
    reduce = lambda f: (f - pca_mean) @ pca.T  # noqa: E731
    x_train = design_matrix(train, reduce(f_train))
    mean, scale = x_train.mean(axis=0), x_train.std(axis=0)
    scale[scale < 1e-6] = 1.0  # a constant column (a class absent from training) must not be blown up ×1e6
    standardise = lambda x: ((x - mean) / scale).astype(np.float32)  # noqa: E731
    x_train, x_val = standardise(x_train), standardise(design_matrix(val, reduce(f_val)))
    offset = lambda rows, m: size_prior(rows, **prior) if prior_members[m] else 0.0  # noqa: E731
    y = lambda rows, m: (np.log(rows["weight_g"].to_numpy(np.float64)) - offset(rows, m)).astype(np.float32)  # noqa: E731
    states, val_mapes = [], []
    for m in range(members):
        state, mape = fit_member(
            x_train,
            y(train, m),
            x_val,
            y(val, m),
            hidden=cfg.hidden,
            dropout=cfg.dropout,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            epochs=cfg.epochs,
            seed=cfg.seed + m,
        )
        states.append(state)
        val_mapes.append(mape)
    meta = {
        "n_inputs": int(x_train.shape[1]),
        "hidden": cfg.hidden,
        "x_mean": mean.tolist(),
        "x_scale": scale.tolist(),
        "pca_mean": pca_mean.tolist(),
        "pca_components": pca.tolist(),
        "sigma_scale": 1.0,
        "typical_mm_per_px": typical_mm_per_px,
        "no_reference_sigma": 0.0,
        "size_prior": prior,
        "prior_members": prior_members,
    }
    estimator = PortionEstimator(states, meta)
    meta["sigma_scale"] = calibrate_sigma(estimator, val, f_val)
    if val_no_ref is not None:
        meta["no_reference_sigma"] = extra_sigma(estimator, val, val_no_ref, f_val)
    estimator = PortionEstimator(states, meta)
    return (
        estimator,
        states,
        {
            "val_mape_members": val_mapes,
            "sigma_scale": meta["sigma_scale"],
            "no_reference_sigma": meta["no_reference_sigma"],
        },
    )


def interval_ratios(rows: pd.DataFrame, pred: pd.DataFrame) -> np.ndarray:
    """|log error| of each photo in units of its interval's (log) half-width: ≤ 1 means covered."""
    z = np.abs(log_error(rows["weight_g"], pred["grams"]))
    half_width = np.log(pred["high"].to_numpy()) - np.log(pred["grams"].to_numpy())
    return z / np.maximum(half_width, 1e-9)


def calibrate_sigma(estimator: PortionEstimator, val: pd.DataFrame, f_val: np.ndarray) -> float:
    """The factor on σ that makes the mean ± 1.28σ interval cover 80 % of validation photos."""
    return float(np.quantile(interval_ratios(val, estimator.predict_frame(val, f_val)), TARGET_COVERAGE))


def extra_sigma(estimator: PortionEstimator, val: pd.DataFrame, val_no_ref: pd.DataFrame, f_val: np.ndarray) -> float:
    """Extra log-σ needed without a reference object, measured on validation photos with the coin ignored.

    Mean squared log-errors, not variances: a wrong guess of the scale is mostly a bias, which a variance hides.
    """
    err = lambda rows: log_error(rows["weight_g"], estimator.predict_frame(rows, f_val)["grams"])  # noqa: E731
    return float(np.sqrt(max(np.mean(err(val_no_ref) ** 2) - np.mean(err(val) ** 2), 0.0)))


def baselines(train: pd.DataFrame) -> tuple[ClassMeanBaseline, GeometricBaseline]:
    return ClassMeanBaseline.fit(train), GeometricBaseline.fit(train)


def grouped_folds(rows: pd.DataFrame, k: int, seed: int) -> list[np.ndarray]:
    """k folds of whole items, each item's photos together, stratified by food: each food's items are dealt
    round the folds in turn, so a food with two or more items always keeps one on the training side."""
    rng = np.random.default_rng(seed)
    first_label = (
        rows.groupby("item_id")["label"].first() if "label" in rows else pd.Series("", index=rows["item_id"].unique())
    )
    fold_of, turn = {}, 0
    for _, items in sorted(first_label.groupby(first_label)):
        shuffled = np.array(sorted(items.index))
        rng.shuffle(shuffled)
        for item in shuffled:
            fold_of[item] = turn % k
            turn += 1
    assigned = rows["item_id"].map(fold_of).to_numpy()
    return [assigned == f for f in range(k)]
