"""The portion estimator as an MLflow pyfunc model with a typed signature."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd


class PortionModel(mlflow.pyfunc.PythonModel):
    """Input rows: label, view (S/T), w_cm, h_cm, crop_features (1280 floats). Output: grams, low, high.

    Serving can call `unwrap_python_model().estimator.estimate(...)` for one box with its reference object.
    """

    def load_context(self, context) -> None:
        from training.portion import PortionEstimator

        self.estimator = PortionEstimator.load(Path(context.artifacts["portion"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        features = np.stack([np.asarray(f, dtype=np.float32) for f in model_input["crop_features"]])
        return self.estimator.predict_frame(model_input[["label", "view", "w_cm", "h_cm"]], features)


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import Array

    return ModelSignature(
        inputs=Schema([ColSpec("string", "label"), ColSpec("string", "view"), ColSpec("double", "w_cm"),
                       ColSpec("double", "h_cm"), ColSpec(Array("double"), "crop_features")]),
        outputs=Schema([ColSpec("double", "grams"), ColSpec("double", "low"), ColSpec("double", "high")]),
    )  # fmt: skip
