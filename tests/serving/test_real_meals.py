"""Real meals, as a new user sends them, through the trained models of this checkout (`dvc repro`): a food that is
not one of ECUSTFD's 19, photographed without a coin; phone-size JPEGs; a photo where no food box counts.

Behaviour, not accuracy: nothing outside the 19 is answered as one of them, grams say what they rest on, and the
answer does not depend on the photo's resolution. Skipped where the pipeline has not run (a fresh clone before
`make run`).
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from PIL import Image

from training.inference.labels import FOOD_TYPES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served():
    """The served path, built from this checkout's pipeline outputs as register_detector ships them."""
    from training.config import load_params
    from training.files import THRESHOLDS_FILE
    from training.inference.food_detector import FoodDetector
    from training.inference.naming import NAMER_FILE
    from training.inference.plate import PlateModels, served_thresholds
    from training.inference.portion_estimator import PortionEstimator

    params = load_params(ROOT / "params.yaml")
    paths = params.paths
    needed = [ROOT / paths.detector, ROOT / paths.namer / NAMER_FILE, ROOT / paths.portion, ROOT / paths.serving]
    if not all(p.exists() for p in needed):
        pytest.skip("the trained models are absent: run `dvc repro` (or `make run`) first")
    estimator = PortionEstimator.load(ROOT / paths.portion)
    if "class_prior" not in estimator.meta:
        pytest.skip("models/portion predates the no-coin fallbacks: run `dvc repro`")
    detector = FoodDetector.from_dirs(
        ROOT / paths.detector,
        ROOT / paths.backbone,
        imgsz=params.train_detector.active.imgsz,
        conf=params.register_detector.conf,
        pad_fraction=params.extract_features.pad_fraction,
        namer_dir=ROOT / paths.namer,
    )
    return PlateModels(detector, estimator, served_thresholds(ROOT / paths.serving / THRESHOLDS_FILE)), params


@pytest.fixture(scope="module")
def espresso(served) -> Image.Image:
    _, params = served
    path = ROOT / params.paths.samples / "espresso.png"
    if not path.is_file():
        pytest.skip(f"{path} absent: run `dvc repro fetch_samples`")
    return Image.open(path).convert("RGB")


def phone_jpeg(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` as a phone would send it: resized to `size`, JPEG-compressed, decoded again."""
    buffer = io.BytesIO()
    image.resize(size, Image.BICUBIC).save(buffer, format="JPEG", quality=88)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def test_a_food_outside_the_19_is_never_answered_as_one_of_them(served, espresso):
    models, _ = served
    # as it is, then as phone JPEGs of 2 and 13.5 MP (3:2 like the photo: stretched to 4:3, the cup reads as bread)
    for size in (espresso.size, (1800, 1200), (4500, 3000)):
        (findings,) = models([phone_jpeg(espresso, size)])
        assert findings.foods, size
        for food in findings.foods:
            assert food.name not in FOOD_TYPES, (size, food)
            assert food.name == "unknown" or food.recognised_by == "imagenet", (size, food)
            if food.name == "unknown":
                assert food.suggestions and food.grams_basis in ("size_prior", "none")
            else:
                assert food.grams_basis == "household_portion" and food.portion


def test_the_espresso_is_named_espresso_by_the_imagenet_head(served, espresso):
    """ImageNet's `espresso` class is mapped to SR28: the second opinion a person gets instead of 'bread'."""
    models, _ = served
    (findings,) = models([espresso])
    assert all(f.embedding for f in findings.foods)  # what the bot's gallery compares, named or not
    names = {f.name for f in findings.foods}
    assert "espresso" in names or "espresso" in {s["name"] for f in findings.foods for s in f.suggestions}


def test_a_photo_where_no_food_box_counts_is_named_whole(served, espresso):
    from training.inference.plate import PlateModels

    models, _ = served
    strict = PlateModels(models.detector, models.estimator, dataclasses.replace(models.thresholds, food=1.01))
    (findings,) = strict([espresso])
    assert findings.whole_photo and len(findings.foods) == 1
    (food,) = findings.foods
    assert food.box == (0.0, 0.0, float(espresso.width), float(espresso.height))
    assert food.name == "espresso" and food.recognised_by == "imagenet" and food.grams_basis == "household_portion"
    without = PlateModels(models.detector, models.estimator, strict.thresholds, whole_photo=False)
    assert without([espresso])[0].foods == []  # switched off: "no food", as before


def test_an_ecustfd_photo_at_phone_sizes_keeps_its_food_and_grams(served, ecustfd_dir):
    models, _ = served
    photo = Image.open(ecustfd_dir / "JPEGImages" / "apple001S(1).JPG").convert("RGB")
    answers = [models([phone_jpeg(photo, size)])[0] for size in (photo.size, (1600, 1200), (4000, 3000))]
    for findings in answers:
        assert findings.reference == "coin" and findings.foods
        assert findings.foods[0].name == "apple" and findings.foods[0].grams_basis == "model"
    base = answers[0].foods[0].grams
    for findings in answers[1:]:
        assert findings.foods[0].grams == pytest.approx(base, rel=0.1)
