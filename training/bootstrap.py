"""Error bars for held-out figures: a percentile interval from an item-level bootstrap.

Photos of one item (the same apple, shot from several sides) are not independent, so the unit resampled is the
item: each resample draws as many items as the split holds, with replacement, and recomputes the figure from the
rows (photos, boxes, foods) of the items drawn, a row counted as often as its item was drawn. The same draws serve
every figure of a stage (`ItemBootstrap` is built once per split), so a model's interval and its baseline's come
from the same resampled test sets.

A target counts as met when the figure meets it, never its interval's better end: the interval says how far the
figure could move on another draw of items of the same kind, not what to claim.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

import numpy as np

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95
CI_SUFFIX = "_ci95"  # key of a figure's interval, next to the figure: "mass_mape" and "mass_mape_ci95"


class ItemBootstrap:
    """Resamples of a split's items, drawn once (seeded) and shared by every figure computed on that split.

    Args:
        items: the split's items (repeats are ignored); rows are mapped to them by `weights`.
        resamples: how many resampled test sets.
        seed: the draws' seed: the same items, resamples and seed give the same intervals.
        level: the interval's coverage (0.95: the 2.5th to the 97.5th percentile of the resampled figures).
    """

    def __init__(self, items: Iterable[Hashable], resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL):
        if resamples < 1:
            raise ValueError(f"resamples must be at least 1, not {resamples}")
        if not 0 < level < 1:
            raise ValueError(f"level must lie strictly between 0 and 1, not {level}")
        self.items = sorted(set(items), key=str)
        if not self.items:
            raise ValueError("cannot bootstrap over no items")
        self.resamples, self.seed, self.level = resamples, seed, level
        self._index = {item: k for k, item in enumerate(self.items)}
        rng = np.random.default_rng(seed)
        drawn = rng.integers(0, len(self.items), size=(resamples, len(self.items)))
        # counts[r, k]: how many times item k is in resample r
        self.counts = np.stack([np.bincount(row, minlength=len(self.items)) for row in drawn]).astype(np.float64)

    def spec(self) -> dict:
        """What the intervals in a metrics file are: written beside them as "bootstrap"."""
        return {
            "unit": "item",
            "resamples": self.resamples,
            "seed": self.seed,
            "level": self.level,
            "method": "percentile",
            "n_items": len(self.items),
        }

    def weights(self, row_items: Sequence[Hashable]) -> np.ndarray:
        """[resamples, rows]: how many times each row (a photo, box or food of item `row_items[i]`) is drawn."""
        try:
            columns = np.array([self._index[item] for item in row_items], dtype=np.intp)
        except KeyError as exc:
            raise ValueError(f"row of item {exc.args[0]!r}, which is not among the bootstrapped items") from None
        return self.counts[:, columns]

    def interval(self, samples: np.ndarray) -> list[float]:
        """The percentile interval of one figure's resampled values (NaN resamples, where it is undefined, left out)."""
        samples = np.asarray(samples, dtype=np.float64)
        if np.isnan(samples).all():
            return [float("nan"), float("nan")]
        tail = (1 - self.level) / 2 * 100
        low, high = np.nanpercentile(samples, [tail, 100 - tail])
        return [float(low), float(high)]

    def mean(self, values: Sequence[float], row_items: Sequence[Hashable]) -> list[float]:
        """Interval of the mean of per-row `values` (an error, or 0/1 for a share): the weighted mean, at once."""
        values = np.asarray(values, dtype=np.float64)
        if len(values) != len(row_items):
            raise ValueError(f"{len(values)} values for {len(row_items)} rows")
        w = self.weights(row_items)
        total = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.interval(np.where(total > 0, (w @ values) / total, np.nan))

    def statistic(self, statistic: Callable[[np.ndarray], float], row_items: Sequence[Hashable]) -> list[float]:
        """Interval of any figure of the rows: `statistic(rows)` gets the resampled rows' indices, repeats included."""
        w = self.weights(row_items).astype(np.intp)
        rows = np.arange(len(row_items))
        return self.interval(np.array([statistic(np.repeat(rows, counts)) for counts in w], dtype=np.float64))


def ci_key(name: str) -> str:
    """The key of figure `name`'s interval."""
    return f"{name}{CI_SUFFIX}"
