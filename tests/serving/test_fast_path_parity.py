"""The fast serving path (JPEG draft decoding, ONNX Runtime localiser and backbone) answers as today's path (full
decode, torch): the same names, boxes within IoU 0.99 and grams within 1 % on real held-out ECUSTFD photos as they
are and as 1600 x 1200 JPEGs (where the draft decoding leaves every pixel as it was, so this checks the runtimes and
the service code around them); as 12-MP phone JPEGs (decoded at half size) the same names and boxes, and grams
within 2 %: the localiser's 256-px input is resampled from other pixels, which moves a coin box by a fraction of a
pixel (today's own answers for the same photo at 816 px and at 12 MP differ by up to 2 %).

Two sets of models: this checkout's trained champions (skipped before `dvc repro`), and the tiny models of
tests/conftest.py, so CI covers the same code.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from serving.analyzer import MealAnalyzer
from serving.schemas import AnalyzeResponse, ModelVersion
from training.inference.boxes import iou
from training.inference.plate import PlateModels, Thresholds

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DRAFT_PX = 1600  # the served default (ServingSettings.draft_px)
PHONE = (4032, 3024)
SIZES = [None, (1600, 1200), PHONE]
SIZE_IDS = ["as-taken", "1600x1200", "12MP"]
VERSIONS = {"detector": ModelVersion(name="d", version="1"), "portion": ModelVersion(name="p", version="1")}


def _xyxy(box) -> tuple[float, float, float, float]:
    return (box.xmin, box.ymin, box.xmax, box.ymax)


def assert_same_answer(today: AnalyzeResponse, fast: AnalyzeResponse, photo: str, grams_rel: float = 0.01) -> None:
    assert (fast.image.width, fast.image.height) == (today.image.width, today.image.height), photo
    assert [i.name for i in fast.items] == [i.name for i in today.items], photo
    for a, b in zip(today.items, fast.items):
        assert iou(_xyxy(a.box), [_xyxy(b.box)])[0] >= 0.99, (photo, a.name, a.box, b.box)
        if a.grams is None:
            assert b.grams is None, (photo, a.name)
        else:
            assert b.grams == pytest.approx(a.grams, rel=grams_rel), (photo, a.name)
    assert fast.reference.kind == today.reference.kind, photo


def phone_jpeg(data: bytes, size: tuple[int, int] | None) -> bytes:
    """The photo's bytes as they are (`size` None), or resized to `size` and saved as a phone would (quality 90)."""
    if size is None:
        return data
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        image.convert("RGB").resize(size, Image.BICUBIC).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def analyzers(build_detector, estimator, thresholds: Thresholds, table) -> tuple[MealAnalyzer, MealAnalyzer]:
    """Today's analyzer (torch, full-size decode) and the fast one, each with its own detector."""
    from training.inference.onnx_runtime import use_onnx

    today = MealAnalyzer(PlateModels(build_detector(), estimator, thresholds), table, VERSIONS)
    fast_models = PlateModels(use_onnx(build_detector()), estimator, thresholds)
    return today, MealAnalyzer(fast_models, table, VERSIONS, draft_px=DRAFT_PX)


@pytest.fixture(scope="module")
def trained(ecustfd_dir):
    """Both paths on this checkout's trained models, and held-out (test split) photos."""
    from nutrition import NutritionTable
    from training.config import load_params
    from training.files import THRESHOLDS_FILE
    from training.inference.food_detector import FoodDetector
    from training.inference.naming import NAMER_FILE
    from training.inference.plate import served_thresholds
    from training.inference.portion_estimator import PortionEstimator

    params = load_params(ROOT / "params.yaml")
    paths = params.paths
    needed = [ROOT / paths.detector, ROOT / paths.namer / NAMER_FILE, ROOT / paths.portion, ROOT / paths.serving]
    needed += [ROOT / paths.prepared / "splits.csv", ROOT / paths.nutrition]
    if not all(p.exists() for p in needed):
        pytest.skip("the trained models are absent: run `dvc repro` (or `make run`) first")

    def build() -> FoodDetector:
        return FoodDetector.from_dirs(
            ROOT / paths.detector,
            ROOT / paths.backbone,
            imgsz=params.train_detector.active.imgsz,
            conf=params.register_detector.conf,
            pad_fraction=params.extract_features.pad_fraction,
            namer_dir=ROOT / paths.namer,
        )

    splits = pd.read_csv(ROOT / paths.prepared / "splits.csv")
    items = sorted(splits.loc[splits["split"] == "test", "item_id"])[::3]
    photos = [p for item in items for p in sorted((ecustfd_dir / "JPEGImages").glob(f"{item}T(*).JPG"))[:1]]
    thresholds = served_thresholds(ROOT / paths.serving / THRESHOLDS_FILE)
    table = NutritionTable.load(ROOT / paths.nutrition)
    return analyzers(build, PortionEstimator.load(ROOT / paths.portion), thresholds, table), photos


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_trained_models_answer_the_same_on_the_fast_path(trained, size):
    (today, fast), photos = trained
    assert len(photos) >= 6
    for path in photos:
        data = phone_jpeg(path.read_bytes(), size)
        assert_same_answer(today.analyze(data)[0], fast.analyze(data)[0], path.name, 0.02 if size == PHONE else 0.01)


@pytest.fixture(scope="module")
def tiny(tiny_models):
    import mlflow

    from nutrition import NutritionTable
    from training.model_names import CHAMPION, DETECTOR_MODEL, PORTION_MODEL

    mlflow.set_tracking_uri(tiny_models.tracking_uri)
    portion = mlflow.pyfunc.load_model(f"models:/{PORTION_MODEL}@{CHAMPION}")

    def build():
        model = mlflow.pyfunc.load_model(f"models:/{DETECTOR_MODEL}@{CHAMPION}")
        return model.unwrap_python_model().detector

    estimator = portion.unwrap_python_model().estimator
    # the served thresholds the tiny models are registered with would list nothing: keep every box
    return analyzers(build, estimator, Thresholds(food=0.0, coin=0.0), NutritionTable.load(tiny_models.nutrition_dir))


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_tiny_models_answer_the_same_on_the_fast_path(tiny, photo_bytes, tiny_photos, size):
    today, fast = tiny
    for name in tiny_photos:
        data = phone_jpeg(photo_bytes(name), size)
        assert_same_answer(today.analyze(data)[0], fast.analyze(data)[0], name, 0.02 if size == PHONE else 0.01)
