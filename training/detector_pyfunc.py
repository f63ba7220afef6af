"""The food detector as an MLflow pyfunc model: artifacts (localiser, classifier, backbone) + this code."""

from __future__ import annotations

import io
import json
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

OUTPUT_COLUMNS = ["row", "label", "confidence", "xmin", "ymin", "xmax", "ymax"]


class FoodDetectorModel(mlflow.pyfunc.PythonModel):
    """Input: a DataFrame with an `image` column of encoded photos (bytes). Output: one row per box.

    Serving can also call `unwrap_python_model().detector` directly with PIL images.
    """

    def load_context(self, context) -> None:
        from training.food_detector import FoodDetector

        config = json.loads(Path(context.artifacts["config"]).read_text())
        self.config = config
        self.detector = FoodDetector.from_dirs(
            Path(context.artifacts["detector"]), Path(context.artifacts["backbone"]), imgsz=config["imgsz"],
            conf=config["conf"], pad_fraction=config["pad_fraction"],
        )  # fmt: skip

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from PIL import Image

        images = [Image.open(io.BytesIO(data)).convert("RGB") for data in model_input["image"]]
        rows = [
            (i, b.label, b.confidence, b.box.xmin, b.box.ymin, b.box.xmax, b.box.ymax)
            for i, boxes in enumerate(self.detector(images))
            for b in boxes
        ]
        return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("binary", "image")]),
        outputs=Schema([ColSpec("long", "row"), ColSpec("string", "label"), ColSpec("double", "confidence")]
                       + [ColSpec("double", c) for c in ("xmin", "ymin", "xmax", "ymax")]),
    )  # fmt: skip
