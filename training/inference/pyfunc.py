"""The two registered models as MLflow pyfunc models (their artifacts + this package as code), and how they are logged.

Serving unwraps both (`unwrap_python_model().detector`, `.estimator`) and runs them through `plate.PlateModels`;
their own `predict` answers plain DataFrames, for any other MLflow client.
"""

from __future__ import annotations

import io
import json
import tempfile
from importlib.metadata import version
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

CODE = Path(__file__).resolve().parent  # all the code a registered model ships (see training/inference/__init__.py)


def pinned(*names: str) -> list[str]:
    """`name==version` of the installed distributions (a local tag such as `+cpu` dropped): the versions the
    model was trained and logged with, pinned in constraints.txt and pyproject.toml, not written again here."""
    return [f"{name}=={version(name).split('+')[0]}" for name in names]


def detector_requirements() -> list[str]:
    return [*pinned("torch", "torchvision", "ultralytics"), "pillow", "pandas", "numpy"]


def portion_requirements(tuned: bool = False) -> list[str]:
    """The fine-tuned model builds its MobileNetV2 blocks with torchvision and cuts crops with Pillow."""
    return [*pinned("torch", *(["torchvision"] if tuned else [])), *(["pillow"] if tuned else []), "pandas", "numpy"]


OUTPUT_COLUMNS = ["row", "label", "confidence", "xmin", "ymin", "xmax", "ymax"]


class FoodDetectorModel(mlflow.pyfunc.PythonModel):
    """Input: a DataFrame with an `image` column of encoded photos (bytes). Output: one row per box.

    Serving can also call `unwrap_python_model().detector` directly with PIL images.
    """

    def load_context(self, context) -> None:
        from training.inference.food_detector import FoodDetector

        config = json.loads(Path(context.artifacts["config"]).read_text())
        self.config = config
        namer = context.artifacts.get("namer")  # absent in models registered before the open-set namer
        self.detector = FoodDetector.from_dirs(
            Path(context.artifacts["detector"]),
            Path(context.artifacts["backbone"]),
            imgsz=config["imgsz"],
            conf=config["conf"],
            pad_fraction=config["pad_fraction"],
            namer_dir=Path(namer) if namer else None,
        )

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from PIL import Image

        images = [Image.open(io.BytesIO(data)).convert("RGB") for data in model_input["image"]]
        rows = [
            (i, b.label, b.confidence, b.box.xmin, b.box.ymin, b.box.xmax, b.box.ymax)
            for i, boxes in enumerate(self.detector(images))
            for b in boxes
        ]
        return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


class PortionModel(mlflow.pyfunc.PythonModel):
    """Input rows: label, view (S/T), w_cm, h_cm, crop_features (1280 floats). Output: grams, low, high.

    Serving can call `unwrap_python_model().estimator.estimate(...)` for one box with its reference object. A
    fine-tuned model (finetune_portion, registered when CV prefers it) answers `estimate` from the photo's pixels;
    its `predict` answers from the frozen estimator it carries, the only one these inputs can feed.
    """

    def load_context(self, context) -> None:
        from training.inference.portion_estimator import PortionEstimator
        from training.inference.tuned_portion import TUNED_FILE, TunedPortionEstimator

        directory = Path(context.artifacts["portion"])
        tuned = (directory / TUNED_FILE).is_file()
        self.estimator = TunedPortionEstimator.load(directory) if tuned else PortionEstimator.load(directory)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        features = np.stack([np.asarray(f, dtype=np.float32) for f in model_input["crop_features"]])
        frozen = getattr(self.estimator, "fallback", self.estimator)
        return frozen.predict_frame(model_input[["label", "view", "w_cm", "h_cm"]], features)


def detector_signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("binary", "image")]),
        outputs=Schema(
            [ColSpec("long", "row"), ColSpec("string", "label"), ColSpec("double", "confidence")]
            + [ColSpec("double", c) for c in ("xmin", "ymin", "xmax", "ymax")]
        ),
    )


def portion_signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import Array

    return ModelSignature(
        inputs=Schema(
            [
                ColSpec("string", "label"),
                ColSpec("string", "view"),
                ColSpec("double", "w_cm"),
                ColSpec("double", "h_cm"),
                ColSpec(Array("double"), "crop_features"),
            ]
        ),
        outputs=Schema([ColSpec("double", "grams"), ColSpec("double", "low"), ColSpec("double", "high")]),
    )


def log_detector(detector_dir: Path, backbone_dir: Path, served: dict, namer_dir: Path | None = None) -> None:
    """Log the food detector as "model" in the active MLflow run; `served` (imgsz, conf, pad_fraction and
    the thresholds serving applies, `plate.registered_thresholds`) goes with it as config.json, and `namer_dir`
    (evaluate_openset's open-set namer: who says `unknown`, the ImageNet second opinion) beside it."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps(served))
        artifacts = {"detector": str(detector_dir), "backbone": str(backbone_dir), "config": str(config)}
        if namer_dir is not None:
            artifacts["namer"] = str(namer_dir)
        _log(FoodDetectorModel(), artifacts, detector_signature(), detector_requirements())


def log_portion(portion_dir: Path) -> None:
    """Log the portion estimator (frozen, or fine-tuned with the frozen one inside) as "model" in the active MLflow run."""
    from training.inference.tuned_portion import TUNED_FILE

    tuned = (Path(portion_dir) / TUNED_FILE).is_file()
    _log(PortionModel(), {"portion": str(portion_dir)}, portion_signature(), portion_requirements(tuned))


def _log(
    python_model: mlflow.pyfunc.PythonModel, artifacts: dict[str, str], signature, requirements: list[str]
) -> None:
    mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        artifacts=artifacts,
        code_paths=[str(CODE)],
        signature=signature,
        pip_requirements=requirements,
    )


def class_path(model_class: type) -> str:
    """The import path MLflow's pickle records for a python_model class: a registered version loads only where it
    resolves, so it is part of what `artifact_fingerprint` keys a registration on (moving the class registers anew)."""
    return f"{model_class.__module__}.{model_class.__qualname__}"
