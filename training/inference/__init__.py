"""What runs a trained model, and all the code a registered model ships: the framework-free predictors
(`plate.PlateModels`: photo → foods, boxes, grams) and their MLflow wrappers (`pyfunc`).

Modules here import each other and third-party libraries only: never the dataset parser (training/data/), the
training code (training/detector/, training/portion/) or the pipeline; tests/training/test_layering.py keeps it so.

How a loaded model finds its code. `pyfunc.log_detector` and `pyfunc.log_portion` log this folder as the
model's `code_paths`: MLflow copies it to `<model>/code/inference/`, and loading the model puts `<model>/code/`
first on sys.path before it unpickles the python_model, whose class it recorded by import path
(`training.inference.pyfunc.FoodDetectorModel`). The snapshot's top-level name is `inference`, never
`training`, so it cannot stand in for the `training` package: `training.inference.*` always resolves to the
code deployed beside the caller (the repository, or the Bento), whichever model loads first and whatever was
imported before. (When models shipped the whole `training/` folder, the first model loaded lent its snapshot to
everything after it: the portion estimator once ran on the detector's older code and ignored its size prior,
answering 26 g for a 245 g apple; serving had to import `training` before loading any model.)

So the snapshot is the record of the code a version was registered with, and nothing imports it. The deployed
code must know the model's format: `PortionEstimator` refuses settings it does not know, and the pyfunc class's
import path is part of the registration fingerprint, so moving a class registers both models anew on the next
`dvc repro` instead of leaving a champion that no longer loads.
"""
