"""The names of the files one stage writes and others read, spelled once; their folders are `paths` in params.yaml.

Files with a library module of their own are named there: the weights beside their loaders in
training/inference/, the crop features in training/data/crop_features.py.
"""

from __future__ import annotations

# prepare → paths.prepared (and paths.data_reports)
IMAGES_FILE = "images.parquet"  # one row per photo, with its split
OBJECTS_FILE = "objects.parquet"  # one row per annotated box
SPLITS_FILE = "splits.csv"  # item → split
YOLO_DIR = "yolo"  # the 20-class YOLO dataset
YOLO_DATA_FILE = "data.yaml"  # what ultralytics reads of a YOLO dataset
SUMMARY_FILE = "summary.json"

# nutrition_table → paths.nutrition: nutrition.usda_table.TABLE_FILES, beside the code that reads them

# train_detector, train_portion, finetune_portion → paths.detector, paths.portion, paths.portion_tuned
TRAINING_FILE = "training.json"  # how the model was trained
BASELINES_FILE = "baselines.json"  # the portion estimator's class-mean and geometric baselines
CV_FILE = "cv.json"  # the portion estimator's item-grouped cross-validation
CV_PREDICTIONS_FILE = "cv_predictions.parquet"  # its out-of-fold grams, one row per train+val photo box

# tune_serving → paths.serving (read by evaluate_meal, shipped by register_detector) and paths.serving_reports
THRESHOLDS_FILE = "thresholds.json"  # the served thresholds, chosen on the val photos
SWEEP_FILE = "sweep.csv"  # one row per grid point tried

# evaluate_*, register_* → the report folders
METRICS_FILE = "metrics.json"
COMPARISON_FILE = "comparison.json"  # compare_portion: frozen vs fine-tuned vs two-photo (read by register_portion)
PER_CLASS_FILE = "comparison_per_class.csv"
RECEIPT_FILE = "registration.json"
