"""The fine-tuned portion estimator: ImageNet MobileNetV2's first blocks as they are, its last blocks fine-tuned
on grams, and a head that adds class, view and the reference-calibrated size (training/portion/finetune.py).

It answers like `PortionEstimator` (same `estimate`, same fallbacks: it carries the frozen estimator for a photo
without a reference and for a food it never saw), but from the food's pixels: serving passes the photo (`image`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from training.inference.boxes import Box
from training.inference.labels import FOOD_TYPES
from training.inference.portion_estimator import Z80, PortionEstimate, PortionEstimator
from training.inference.portion_features import PortionInputError, Scale, check_box, design_matrix, geometry

TUNED_FILE = "tuned_portion.pt"
FALLBACK_DIR = "frozen"  # the frozen estimator, saved beside: its class and size priors answer where pixels cannot
TRUNK_BLOCKS = 14  # MobileNetV2 features[:14] (output 96 × 14 × 14) stay ImageNet's; their activations are cached
LAST_BLOCK = 18  # features[14:18] may be tuned; features[18], the 1×1 conv to 1280 channels, is left out
TAIL_CHANNELS = 320


def crop_pixels(crops, size: int) -> np.ndarray:
    """[N, 3, size, size] float32, resized and normalised exactly as `CropFeatureExtractor` feeds MobileNetV2."""
    from PIL import Image

    from training.inference.backbone import _MEAN, _STD

    arrays = [
        (np.asarray(c.convert("RGB").resize((size, size), Image.BILINEAR), np.float32) / 255 - _MEAN) / _STD
        for c in crops
    ]
    return np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2))


class GramsNetError(ValueError):
    """A fine-tuned portion model asked for a depth or input its architecture does not have."""


def grams_net(first_tuned: int, n_design: int, hidden: int, dropout: float, backbone=None):
    """Trunk (frozen) → blocks up to `first_tuned` (frozen) → tuned blocks → pooled 320-d → head with the design
    inputs → standardised log grams. `backbone`: a MobileNetV2 whose blocks to take (ImageNet weights in training)."""
    import torch
    from torch import nn

    from training.inference.backbone import build_mobilenet_v2

    if not TRUNK_BLOCKS <= first_tuned < LAST_BLOCK:
        raise GramsNetError(f"first tuned block {first_tuned} is not in [{TRUNK_BLOCKS}, {LAST_BLOCK})")
    features = (backbone or build_mobilenet_v2(None)).features

    class GramsNet(nn.Module):
        """`from_activation` is what training runs (on cached trunk activations); `forward` takes pixels."""

        def __init__(self):
            super().__init__()
            self.trunk = features[:TRUNK_BLOCKS]
            self.fixed = features[TRUNK_BLOCKS:first_tuned]
            self.tuned = features[first_tuned:LAST_BLOCK]
            self.head = nn.Sequential(
                nn.Linear(TAIL_CHANNELS + n_design, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
            )
            for p in [*self.trunk.parameters(), *self.fixed.parameters()]:
                p.requires_grad_(False)

        def from_activation(self, activation: torch.Tensor, design: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                fixed = self.fixed(activation)
            pooled = self.tuned(fixed).mean(dim=(2, 3))
            return self.head(torch.cat([pooled, design], dim=1))[:, 0]

        def forward(self, pixels: torch.Tensor, design: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                activation = self.trunk(pixels)
            return self.from_activation(activation, design)

        def train(self, mode: bool = True):
            # BatchNorm keeps ImageNet's statistics: batches of 32 crops of 110 items would only add noise to them.
            super().train(mode)
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
            return self

    return GramsNet()


KNOWN_META = frozenset(
    {"first_tuned", "hidden", "n_design", "x_mean", "x_scale", "y_mean", "y_std", "base", "log_half_width"}
    | {"pad_fraction", "size", "blend"}
)


class TunedPortionEstimator:
    """Framework-free predictor of the fine-tuned model (its weights, settings and the frozen fallback estimator)."""

    def __init__(self, state: dict, meta: dict, fallback: PortionEstimator):
        unknown = sorted(set(meta) - KNOWN_META)
        if unknown:
            raise ValueError(f"this fine-tuned portion model needs newer code than {__file__}: it sets {unknown}")
        self.state, self.meta, self.fallback = state, meta, fallback
        self.net = grams_net(meta["first_tuned"], meta["n_design"], meta["hidden"], 0.0)
        self.net.load_state_dict(state)
        self.net.eval()
        self.x_mean, self.x_scale = np.array(meta["x_mean"], np.float32), np.array(meta["x_scale"], np.float32)

    @classmethod
    def load(cls, directory: Path) -> TunedPortionEstimator:
        import torch

        path = Path(directory) / TUNED_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"fine-tuned portion estimator not found: {path} (run `dvc repro finetune_portion`)"
            )
        saved = torch.load(path, map_location="cpu", weights_only=True)
        return cls(saved["state"], json.loads(saved["meta"]), PortionEstimator.load(Path(directory) / FALLBACK_DIR))

    def save(self, directory: Path) -> None:
        import torch

        directory = Path(directory)
        torch.save({"state": self.state, "meta": json.dumps(self.meta)}, directory / TUNED_FILE)
        (directory / FALLBACK_DIR).mkdir(exist_ok=True)
        self.fallback.save(directory / FALLBACK_DIR)

    def design(self, rows: pd.DataFrame) -> np.ndarray:
        return ((design_matrix(rows, None) - self.x_mean) / self.x_scale).astype(np.float32)

    def base(self, rows: pd.DataFrame) -> np.ndarray:
        """The log grams the net predicts a correction to: its training items' class mean."""
        base = self.meta["base"]
        return rows["label"].map(base["log_mean"]).fillna(base["overall"]).to_numpy(np.float64)

    def log_grams(self, rows: pd.DataFrame, activations: np.ndarray | None = None, pixels=None) -> np.ndarray:
        """Predicted log grams of `rows` (label, view, w_cm, h_cm) from trunk `activations` [N, 96, 14, 14] or
        crop `pixels` [N, 3, size, size] (normalised as `CropFeatureExtractor` does)."""
        import torch

        design = torch.from_numpy(self.design(rows))
        with torch.inference_mode():
            if activations is not None:
                out = self.net.from_activation(torch.as_tensor(np.asarray(activations, np.float32)), design)
            else:
                out = self.net(torch.as_tensor(pixels), design)
        return out.numpy().astype(np.float64) * self.meta["y_std"] + self.meta["y_mean"] + self.base(rows)

    def frame(self, rows: pd.DataFrame, log_grams: np.ndarray) -> pd.DataFrame:
        """grams, low, high from predicted log grams, with the out-of-fold 80 % half-width."""
        half = self.meta["log_half_width"]
        return pd.DataFrame(
            {"grams": np.exp(log_grams), "low": np.exp(log_grams - half), "high": np.exp(log_grams + half)}
        )

    def predict_frame(self, rows: pd.DataFrame, activations: np.ndarray) -> pd.DataFrame:
        """grams, low, high for rows from their cached trunk activations."""
        return self.frame(rows, self.log_grams(rows, activations))

    def estimate(
        self,
        food: str,
        box: Box,
        image_size: tuple[int, int],
        scale: Scale,
        view: str | None,
        crop_features: np.ndarray,
        image=None,
    ) -> PortionEstimate:
        """As `PortionEstimator.estimate`; the network needs the photo (`image`, PIL) to cut the food's crop from.

        Raises:
            NoReferenceError: a food the model never saw, and no reference to size it by.
            PortionInputError: zero-size or out-of-image box, or no image given for a food the net answers.
        """
        width, height = image_size
        check_box(box, width, height)
        if scale.kind == "none" or scale.mm_per_px is None or food not in FOOD_TYPES:
            return self.fallback.estimate(food, box, image_size, scale, view, crop_features)
        if image is None:
            raise PortionInputError("the fine-tuned portion model needs the photo to cut the food's crop from")
        from training.inference.backbone import crop

        pixels = crop_pixels([crop(image.convert("RGB"), box, self.meta["pad_fraction"])], self.meta["size"])
        row = pd.DataFrame([{"label": food, "view": view, **geometry(box, scale)}])
        mu = float(self.log_grams(row, pixels=pixels)[0])
        widen = self.fallback.meta.get("plate_sigma", 0.0) if scale.kind == "plate" else 0.0
        half = float(np.hypot(self.meta["log_half_width"], Z80 * widen))
        return PortionEstimate(
            float(np.exp(mu)), float(np.exp(mu - half)), float(np.exp(mu + half)), scale.kind, scale.mm_per_px, "model"
        )


__all__ = ["TUNED_FILE", "GramsNetError", "TunedPortionEstimator", "crop_pixels", "grams_net"]
