"""The framework-free predictor (training.inference.plate) and the meal analysis around it (serving.analyzer), with
the tiny real models of tests/conftest.py on real photos: contract and behaviour (scale reference, no food,
batching invariance), not accuracy."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from serving.analyzer import NO_FOOD_HINT, NO_REFERENCE_HINT, PLATE_HINT, MealAnalyzer
from serving.image_input import ImageRejected
from serving.schemas import ModelVersion
from training.inference.plate import PlateModels, Thresholds
from training.inference.references import ReferenceSettings
from training.model_names import CHAMPION, DETECTOR_MODEL, PORTION_MODEL

pytestmark = pytest.mark.slow  # the session fixture trains tiny models (about a minute, cached afterwards)


@pytest.fixture(scope="module")
def loaded(tiny_models):
    import mlflow

    from nutrition import NutritionTable

    mlflow.set_tracking_uri(tiny_models.tracking_uri)
    detector = mlflow.pyfunc.load_model(f"models:/{DETECTOR_MODEL}@{CHAMPION}")
    portion = mlflow.pyfunc.load_model(f"models:/{PORTION_MODEL}@{CHAMPION}")
    return detector, portion, NutritionTable.load(tiny_models.nutrition_dir)


VERSIONS = {
    "detector": ModelVersion(name=DETECTOR_MODEL, version="1"),
    "portion": ModelVersion(name=PORTION_MODEL, version="1"),
}


@pytest.fixture(scope="module")
def analyzer(loaded) -> MealAnalyzer:
    detector, portion, table = loaded
    return MealAnalyzer(PlateModels.from_pyfuncs(detector, portion, Thresholds(food=0.0, coin=0.0)), table, VERSIONS)


class StubDetector:
    """Stands in for the localiser + classifier only, to put boxes exactly where a test needs them."""

    def __init__(self, real, boxes):
        self.extractor, self.pad_fraction, self.boxes = real.extractor, real.pad_fraction, boxes

    def __call__(self, images):
        return [list(self.boxes) for _ in images]


def _box(label, confidence, xyxy):
    from training.inference.boxes import Box
    from training.inference.food_detector import FoodBox

    return FoodBox(label, confidence, Box(*xyxy), confidence, 1.0)


APPLE, COIN = (300.0, 150.0, 520.0, 380.0), (80.0, 400.0, 150.0, 470.0)  # on apple001S(1): 816x551


def test_real_photos_answer_the_contract(analyzer, tiny_photo, photo_bytes):
    data = photo_bytes(tiny_photo)
    result, image = analyzer.analyze(data)
    with Image.open(io.BytesIO(data)) as raw:
        assert (result.image.width, result.image.height) == image.size and max(image.size) == max(raw.size)
    assert set(result.timings_ms) >= {"decode", "detect", "portion", "models", "nutrition", "total"}
    assert result.models == VERSIONS
    for item in result.items:
        assert item.grams_low <= item.grams <= item.grams_high
        assert (
            0 <= item.box.xmin < item.box.xmax <= image.width + 1
            and 0 <= item.box.ymin < item.box.ymax <= image.height + 1
        )
    assert result.totals.kcal == pytest.approx(sum(i.kcal for i in result.items))
    assert result.totals.grams == pytest.approx(sum(i.grams for i in result.items))
    if not result.items:
        assert result.hint == NO_FOOD_HINT
    elif result.reference.kind == "none":
        assert result.hint == NO_REFERENCE_HINT and result.reference.mm_per_px is None


def test_the_same_photo_gives_the_same_answer(analyzer, photo_bytes, tiny_photos):
    first, _ = analyzer.analyze(photo_bytes(tiny_photos[0]))
    second, _ = analyzer.analyze(photo_bytes(tiny_photos[0]))
    assert first.model_dump(exclude={"timings_ms"}) == second.model_dump(exclude={"timings_ms"})


def test_batching_does_not_change_findings(loaded, photo_bytes, tiny_photos):
    """A photo analysed in a batch of three (different sizes) gets what it gets alone."""
    detector, portion, _ = loaded
    models = PlateModels.from_pyfuncs(detector, portion, Thresholds(food=0.0, coin=0.0))
    images = [Image.open(io.BytesIO(photo_bytes(n))).convert("RGB") for n in tiny_photos]
    images[1] = images[1].resize((640, 480))
    batched = models(images)
    for image, together in zip(images, batched):
        (alone,) = models([image])
        assert [f.name for f in alone.foods] == [f.name for f in together.foods]
        for a, b in zip(alone.foods, together.foods):
            assert np.allclose(a.box, b.box, atol=2.0) and a.grams == pytest.approx(b.grams, rel=0.05)
        assert together.timings_ms["batch_size"] == 3


def test_coin_sets_the_scale_and_its_absence_widens_the_range(analyzer, loaded, photo_bytes, tiny_photos):
    """Directional: with the coin the answer is scaled by it; without, by the plate (its range widened), or with
    neither, the food's class prior."""
    detector, portion, table = loaded
    real = detector.unwrap_python_model().detector
    estimator = portion.unwrap_python_model().estimator
    data = photo_bytes(tiny_photos[0])
    with_coin = MealAnalyzer(
        PlateModels(StubDetector(real, [_box("apple", 0.9, APPLE), _box("coin", 0.8, COIN)]), estimator),
        table,
        VERSIONS,
    )
    apple_only = StubDetector(real, [_box("apple", 0.9, APPLE)])
    plate = MealAnalyzer(PlateModels(apple_only, estimator), table, VERSIONS)
    no_reference = ReferenceSettings(find_plate=False, find_card=False)
    without = MealAnalyzer(PlateModels(apple_only, estimator, references=no_reference), table, VERSIONS)
    a, _ = with_coin.analyze(data)
    b, _ = without.analyze(data)
    c, _ = plate.analyze(data)
    assert a.reference.kind == "coin" and a.reference.mm_per_px == pytest.approx(25.0 / 70.0) and a.hint is None
    assert b.reference.kind == "none" and b.reference.box is None and b.hint == NO_REFERENCE_HINT
    assert c.reference.kind == "plate" and c.reference.box is not None and c.hint == PLATE_HINT  # the coin ignored
    (ia,), (ib,), (ic,) = a.items, b.items, c.items
    assert ia.name == ib.name == ic.name == "apple" and ia.ndb == "09003" and ia.display_name
    assert (ia.grams_basis, ib.grams_basis, ic.grams_basis) == ("model", "class_prior", "model")
    # no scale: the food's typical weight, its range the spread of its training items (not the coin model's)
    assert ib.grams_low < ib.grams < ib.grams_high
    assert ic.grams_low < ic.grams < ic.grams_high  # (the widening itself: tests/training/test_portion.py)
    assert ia.kcal == pytest.approx(table.nutrients("apple", ia.grams).kcal)


def test_thresholds_overlaps_and_bad_boxes(analyzer, loaded, photo_bytes, tiny_photos):
    detector, portion, table = loaded
    real = detector.unwrap_python_model().detector
    boxes = [
        _box("apple", 0.9, APPLE),
        _box("apple", 0.8, (305.0, 152.0, 522.0, 382.0)),  # the same apple twice
        _box("banana", 0.1, (10.0, 10.0, 100.0, 100.0)),  # below the food threshold
        _box("egg", 0.7, (900.0, 10.0, 950.0, 60.0)),  # outside the image: skipped, not a 500
        _box("coin", 0.1, COIN),
    ]
    models = PlateModels(
        StubDetector(real, boxes), portion.unwrap_python_model().estimator, Thresholds(food=0.25, coin=0.25)
    )
    result, _ = MealAnalyzer(models, table, VERSIONS).analyze(photo_bytes(tiny_photos[0]))
    assert [i.name for i in result.items] == ["apple"]
    assert result.reference.kind != "coin"  # the coin was too unsure to set the scale


def test_no_food_gives_an_empty_list_and_a_hint(loaded):
    detector, portion, table = loaded
    models = PlateModels.from_pyfuncs(detector, portion)  # the served thresholds
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 200, 200)).save(buffer, format="JPEG")
    result, _ = MealAnalyzer(models, table, VERSIONS).analyze(buffer.getvalue())
    assert result.items == [] and result.hint == NO_FOOD_HINT and result.totals.kcal == 0


def test_bad_bytes_are_refused_before_the_models(analyzer):
    with pytest.raises(ImageRejected) as excinfo:
        analyzer.analyze(b"not a photo")
    assert excinfo.value.status == 415
