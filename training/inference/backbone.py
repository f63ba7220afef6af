"""The pretrained ImageNet MobileNetV2 as a frozen feature extractor for food crops."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from training.inference.boxes import Box

WEIGHTS_FILE = "mobilenet_v2.pth"
FEATURE_DIM = 1280
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class WeightsError(RuntimeError):
    """The weights file is missing, corrupt, or not a MobileNetV2 state dict."""


def build_mobilenet_v2(weights: Path | None):
    """torchvision's MobileNetV2 with `weights` loaded (all keys must match), in eval mode on CPU."""
    import torch

    import training.inference.torch_compat  # noqa: F401 — before torchvision
    from torchvision.models import mobilenet_v2  # isort: skip — after torch_compat

    model = mobilenet_v2()
    if weights is not None:
        if not weights.is_file():
            raise WeightsError(f"backbone weights not found: {weights} (run `dvc repro fetch_backbone`)")
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
        except (RuntimeError, OSError, ValueError) as exc:
            raise WeightsError(f"{weights} is not a MobileNetV2 state dict: {exc}") from exc
    return model.eval()


def crop(image: Image.Image, box: Box, pad_fraction: float = 0.1) -> Image.Image:
    """Cut `box` out of `image`, grown by `pad_fraction` of its size on each side and clamped to the image.

    Raises:
        ValueError: the box has no area or lies wholly outside the image.
    """
    if box.width <= 0 or box.height <= 0:
        raise ValueError(f"box {box} has no area")
    pad_x, pad_y = box.width * pad_fraction, box.height * pad_fraction
    left, top = max(0, int(box.xmin - pad_x)), max(0, int(box.ymin - pad_y))
    right, bottom = min(image.width, int(np.ceil(box.xmax + pad_x))), min(image.height, int(np.ceil(box.ymax + pad_y)))
    if right <= left or bottom <= top:
        raise ValueError(f"box {box} lies outside the {image.width}x{image.height} image")
    return image.crop((left, top, right, bottom))


class CropFeatureExtractor:
    """1280-d pooled MobileNetV2 features for crops, batched, CPU, no gradients."""

    def __init__(self, weights: Path | None, size: int = 224, batch_size: int = 32):
        self.model = build_mobilenet_v2(weights)
        self.size = size
        self.batch_size = batch_size

    @classmethod
    def from_dir(cls, directory: Path, **kwargs) -> CropFeatureExtractor:
        return cls(Path(directory) / WEIGHTS_FILE, **kwargs)

    def _tensor(self, crops: Sequence[Image.Image]):
        import torch

        arrays = [
            (
                np.asarray(c.convert("RGB").resize((self.size, self.size), Image.BILINEAR), dtype=np.float32) / 255
                - _MEAN
            )
            / _STD
            for c in crops
        ]
        return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())

    def __call__(self, crops: Iterable[Image.Image], progress: bool = False) -> np.ndarray:
        """Features of `crops`, shape [N, 1280], float32."""
        import torch

        crops = list(crops)
        out = np.zeros((len(crops), FEATURE_DIM), dtype=np.float32)
        starts = range(0, len(crops), self.batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="features", unit="batch")
        with torch.inference_mode():
            for start in starts:
                batch = self._tensor(crops[start : start + self.batch_size])
                pooled = self.model.features(batch).mean(dim=(2, 3))
                out[start : start + len(batch)] = pooled.numpy()
        return out
