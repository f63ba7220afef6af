"""The food localiser: ultralytics YOLO that finds *where* foods and the reference coin are.

Which food a box holds is decided by the crop classifier (training/inference/crop_classifier.py); on this CPU
a YOLO learns two classes far faster than twenty (see README). Training: training/detector/fit.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.inference.labels import COIN

FOOD = "food"
LOCALISER_CLASSES: tuple[str, ...] = (FOOD, COIN)
WEIGHTS_FILE = "localiser.pt"


@dataclass(frozen=True)
class Detection:
    """One box from the localiser, in pixels of the image it ran on."""

    label: str  # "food" or "coin"
    confidence: float
    xmin: float
    ymin: float
    xmax: float
    ymax: float


class Localiser:
    """Framework-free wrapper: image in, food and coin boxes out.

    `conf` is the confidence floor: boxes below it are never returned. It has no default: the served value is
    params `register_detector.conf`, shipped in the registered model's config, and every caller passes it.
    """

    def __init__(self, weights: Path, imgsz: int, conf: float, iou: float = 0.6):
        from training.inference.yolo_env import load_ultralytics

        if not Path(weights).is_file():
            raise FileNotFoundError(f"localiser weights not found: {weights}")
        self.model = load_ultralytics().YOLO(str(weights))
        self.imgsz, self.conf, self.iou = imgsz, conf, iou

    def __call__(self, images: list) -> list[list[Detection]]:
        """Detections for each image (PIL images or paths), most confident first."""
        # Always the CPU, as served: the evaluate stages score this same path (train_detector.device is training only).
        results = self.model.predict(
            images, imgsz=self.imgsz, conf=self.conf, iou=self.iou, device="cpu", verbose=False
        )
        out = []
        for result in results:
            boxes = result.boxes
            xyxy, conf, cls = boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype(int)
            out.append(
                [
                    Detection(LOCALISER_CLASSES[c], float(p), *map(float, b))
                    for b, p, c in sorted(zip(xyxy, conf, cls), key=lambda t: -t[1])
                ]
            )
        return out
