"""Pixel boxes and their overlap (IoU), shared by the dataset, the models and every metric."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels, (xmin, ymin) inclusive top-left, (xmax, ymax) bottom-right."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def width(self) -> float:
        return self.xmax - self.xmin

    @property
    def height(self) -> float:
        return self.ymax - self.ymin

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.xmin, self.ymin, self.xmax, self.ymax)

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            max(0.0, self.xmin), max(0.0, self.ymin), min(float(width), self.xmax), min(float(height), self.ymax)
        )


def iou(box, boxes) -> np.ndarray:
    """IoU of one [4] box with [N, 4] boxes (x1, y1, x2, y2); array-likes of float64."""
    box, boxes = np.asarray(box, dtype=np.float64), np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    if boxes.size == 0:
        return np.zeros(0)
    tl = np.maximum(box[:2], boxes[:, :2])
    br = np.minimum(box[2:], boxes[:, 2:])
    inter = np.clip(br - tl, 0, None).prod(axis=1)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-12)
