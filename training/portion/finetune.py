"""Fine-tune MobileNetV2's last blocks and a head on log grams, from cached trunk activations; choose the depth, the
learning rate and the epochs by item-grouped CV over train+val (test items never enter)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.inference.portion_features import design_matrix
from training.inference.tuned_portion import TunedPortionEstimator, grams_net
from training.portion.metrics import mass_mape

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuneConfig:
    """One point of the grid: the first tuned block (14: blocks 14-17 tuned; 16: blocks 16-17) and the tuned
    blocks' learning rate; the head learns at `head_lr`."""

    first_tuned: int
    lr: float


@dataclass(frozen=True)
class TuneSettings:
    """What the grid does not vary (params `finetune_portion`)."""

    epochs: int
    batch_size: int
    head_lr: float
    weight_decay: float
    hidden: int
    dropout: float
    seed: int


def class_base(rows: pd.DataFrame) -> dict:
    """Mean log grams of each food over its items (an item counted once): what the net learns a correction to."""
    items = rows.drop_duplicates(["item_id", "label"])
    log_g = np.log(items["weight_g"].to_numpy(np.float64))
    return {
        "log_mean": pd.Series(log_g).groupby(items["label"].to_numpy()).mean().to_dict(),
        "overall": float(log_g.mean()),
    }


def fit_tuned(
    rows: pd.DataFrame,
    activations: np.ndarray,
    config: TuneConfig,
    settings: TuneSettings,
    backbone,
    on_epoch: Callable[[int, TunedPortionEstimator], None] | None = None,
    fallback=None,
    progress: str | None = None,
    pad_fraction: float = 0.1,
    size: int = 224,
    stop_after: int | None = None,
) -> TunedPortionEstimator:
    """Train on `rows` (label, view, w_cm, h_cm, weight_g, item_id) whose cached activations are `activations`
    [augmentations, len(rows), 96, 14, 14]; each step draws one augmentation per crop. `on_epoch(epoch, model)`
    sees the model after every epoch (the CV scores its held-out fold there). Huber loss on standardised log grams
    relative to the class mean; one-cycle schedule over `settings.epochs`, which `stop_after` epochs cut short: the
    CV scores each epoch count of that one schedule, so the final fit must follow the same one."""
    import copy

    import torch

    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    base = class_base(rows)
    x = design_matrix(rows, None)
    x_mean, x_scale = x.mean(axis=0), x.std(axis=0)
    x_scale[x_scale < 1e-6] = 1.0  # a class absent from these rows must not be blown up ×1e6
    target = np.log(rows["weight_g"].to_numpy(np.float64)) - rows["label"].map(base["log_mean"]).to_numpy()
    y_mean, y_std = float(target.mean()), float(target.std()) + 1e-6
    meta = {
        "first_tuned": config.first_tuned,
        "hidden": settings.hidden,
        "n_design": int(x.shape[1]),
        "x_mean": x_mean.tolist(),
        "x_scale": x_scale.tolist(),
        "y_mean": y_mean,
        "y_std": y_std,
        "base": base,
        "log_half_width": 0.0,
        "pad_fraction": pad_fraction,
        "size": size,
    }
    net = grams_net(config.first_tuned, x.shape[1], settings.hidden, settings.dropout, copy.deepcopy(backbone))
    design = torch.from_numpy(((x - x_mean) / x_scale).astype(np.float32))
    y = torch.from_numpy(((target - y_mean) / y_std).astype(np.float32))
    optim = torch.optim.AdamW(
        [
            {"params": net.tuned.parameters(), "lr": config.lr},
            {"params": net.head.parameters(), "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    steps = int(np.ceil(len(rows) / settings.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=[config.lr, settings.head_lr], total_steps=settings.epochs * steps, pct_start=0.15
    )
    epochs = range(stop_after or settings.epochs)
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc=progress, unit="epoch")
    for epoch in epochs:
        net.train()
        for batch in np.array_split(rng.permutation(len(rows)), steps):
            views = rng.integers(0, activations.shape[0], len(batch))
            act = torch.from_numpy(np.stack([activations[v, i] for v, i in zip(views, batch)]).astype(np.float32))
            loss = torch.nn.functional.huber_loss(net.from_activation(act, design[batch]), y[batch], delta=1.0)
            optim.zero_grad()
            loss.backward()
            optim.step()
            schedule.step()
        if on_epoch is not None:
            on_epoch(epoch, _snapshot(net, meta, fallback))
    return _snapshot(net, meta, fallback)


def _snapshot(net, meta: dict, fallback) -> TunedPortionEstimator:
    model = TunedPortionEstimator.__new__(TunedPortionEstimator)
    model.state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    model.meta, model.fallback, model.net = dict(meta), fallback, net.eval()
    model.x_mean, model.x_scale = np.array(meta["x_mean"], np.float32), np.array(meta["x_scale"], np.float32)
    return model


def predict_log(model: TunedPortionEstimator, rows: pd.DataFrame, activations: np.ndarray, batch: int = 128):
    """Log grams of `rows` from their served-view activations (augmentation 0), in batches."""
    parts = [
        model.log_grams(rows.iloc[s : s + batch], np.asarray(activations[0, s : s + batch], np.float32))
        for s in range(0, len(rows), batch)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def cross_validate(
    rows: pd.DataFrame,
    activations: np.ndarray,
    folds: list[np.ndarray],
    grid: list[TuneConfig],
    settings: TuneSettings,
    backbone,
) -> dict:
    """Out-of-fold log grams of every grid point after every epoch, on item-grouped `folds` of `rows`.

    Returns:
        {"scores": [{config, epoch, mass_mape, folds: [...]}, ...], "oof": {(config index, epoch): log grams}}.
        A food whose every item lies in the held-out fold cannot be learned from the rest: those rows are left out
        of the scores (NaN in oof), as train_portion's CV does.
    """
    oof = {(c, e): np.full(len(rows), np.nan) for c in range(len(grid)) for e in range(settings.epochs)}
    for c, config in enumerate(grid):
        for k, held in enumerate(folds):
            train = ~held
            seen = held & rows["label"].isin(set(rows.loc[train, "label"])).to_numpy()
            held_rows = rows[seen].reset_index(drop=True)
            held_acts = activations[:, np.flatnonzero(seen)]

            def score(epoch, model, seen=seen, held_rows=held_rows, held_acts=held_acts, c=c):
                oof[(c, epoch)][seen] = predict_log(model, held_rows, held_acts)

            fit_tuned(
                rows[train].reset_index(drop=True),
                activations[:, np.flatnonzero(train)],
                config,
                settings,
                backbone,
                on_epoch=score,
                progress=f"cv blocks {config.first_tuned}-17 lr {config.lr:g} fold {k + 1}/{len(folds)}",
            )
    true = rows["weight_g"].to_numpy(np.float64)
    scores = []
    for (c, epoch), log_g in oof.items():
        ok = ~np.isnan(log_g)
        per_fold = [mass_mape(true[f & ok], np.exp(log_g[f & ok])) for f in folds if (f & ok).any()]
        scores.append(
            {
                "first_tuned": grid[c].first_tuned,
                "lr": grid[c].lr,
                "epochs": epoch + 1,
                "mass_mape": mass_mape(true[ok], np.exp(log_g[ok])),
                "mass_mape_sd": float(np.std(per_fold)),
                "folds": per_fold,
                "grid_index": c,
            }
        )
    return {"scores": scores, "oof": oof}


def best(scores: list[dict]) -> dict:
    """The grid point and epoch count with the lowest out-of-fold MAPE (ties: the earlier grid point, fewer epochs)."""
    return min(scores, key=lambda s: (round(s["mass_mape"], 6), s["grid_index"], s["epochs"]))
