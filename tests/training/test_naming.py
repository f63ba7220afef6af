"""The open-set namer: known crops keep their name, unknown crops get `unknown` with suggestions, and the ImageNet
head names the foods it knows when the ECUSTFD head abstains; thresholds come from the namer's json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.detector.fit import fit_classifier
from training.inference.boxes import Box
from training.inference.crop_classifier import WEIGHTS_FILE as CLASSIFIER_FILE
from training.inference.food_detector import FoodDetector
from training.inference.localiser import FOOD, Detection
from training.inference.naming import (
    IMAGENET,
    NAMER_FILE,
    STATS_FILE,
    UNKNOWN,
    UNKNOWN_DISPLAY,
    FoodNamer,
    ImagenetFood,
    OpenSetStats,
    Thresholds,
    known_scores,
)

DIM = 16
CLASSES = ("apple", "banana", "egg")
PIZZA, BANANA = 963, 954


def _centres() -> np.ndarray:
    """Far-apart cluster centres: one per ECUSTFD class, then a food the head never saw (the 'pizza')."""
    centres = np.zeros((len(CLASSES) + 1, DIM))
    for k in range(len(centres)):
        centres[k, k] = 10.0
    return centres


def _crops(centre: np.ndarray, n: int, seed: int) -> np.ndarray:
    return centre + np.random.default_rng(seed).normal(0, 0.3, (n, DIM))


def _imagenet_head(pizza_gain: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """A 1000-class head that calls the unseen cluster `pizza`, the banana cluster `banana`, everything else vague."""
    weight, bias = np.zeros((1000, DIM)), np.zeros(1000)
    weight[PIZZA, len(CLASSES)] = pizza_gain
    weight[BANANA, 1] = 2.0
    return weight, bias


FOODS = [
    ImagenetFood("banana", BANANA, "Banana", "09040", ecustfd=True),
    ImagenetFood("pizza", PIZZA, "Pizza", "21271", serving_g=96.0, portion="1 slice"),
]
ECUSTFD = {"apple": {"display": "Apple", "ndb": "09003"}, "banana": {"display": "Banana", "ndb": "09040"}}


@pytest.fixture(scope="module")
def parts():
    """The head, its statistics, the centres, and a known-score threshold that separates fresh crops of the three
    foods from crops of the unseen one (checked here, so the tests below test the namer, not the fixture)."""
    centres = _centres()
    train = np.concatenate([_crops(centres[k], 30, k) for k in range(len(CLASSES))])
    labels = [c for c in CLASSES for _ in range(30)]
    classifier = fit_classifier(train, labels, c=0.1)
    stats = OpenSetStats.fit(classifier, train, components=2)
    known = np.concatenate([_crops(centres[k], 20, 100 + k) for k in range(len(CLASSES))])
    unseen = _crops(centres[len(CLASSES)], 20, 200)
    low = known_scores(classifier, stats, known, 1.0)[1].min()
    high = known_scores(classifier, stats, unseen, 1.0)[1].max()
    assert high < low, (high, low)
    return classifier, stats, centres, (low + high) / 2


def _namer(parts, known_score: float | None = None, imagenet_probability: float | None = 0.5, pizza_gain=2.0):
    classifier, stats, _, threshold = parts
    weight, bias = _imagenet_head(pizza_gain)
    known_score = threshold if known_score is None else known_score
    return FoodNamer(
        classifier, stats, Thresholds(known_score, imagenet_probability, 1.0), weight, bias, FOODS, ECUSTFD
    )


def test_a_known_crop_keeps_its_ecustfd_name(parts):
    namer = _namer(parts)
    (naming,) = namer.name(_crops(parts[2][0], 1, seed=99))
    assert (naming.name, naming.display, naming.ndb, naming.recognised_by) == ("apple", "Apple", "09003", "ecustfd")
    assert naming.serving_g is None and naming.portion is None
    assert 0 < len(naming.suggestions) <= 3 and all(s.name != "apple" for s in naming.suggestions)


def test_an_unknown_crop_is_unknown_with_suggestions(parts):
    namer = _namer(parts, imagenet_probability=None)  # no second opinion: the crop of an unseen food stays unknown
    crops = _crops(parts[2][len(CLASSES)], 5, seed=7)
    for naming in namer.name(crops):
        assert (naming.name, naming.display, naming.recognised_by, naming.ndb) == (UNKNOWN, UNKNOWN_DISPLAY, None, None)
        assert 1 <= len(naming.suggestions) <= 3
        assert naming.probability == naming.suggestions[0].probability
        assert [s.probability for s in naming.suggestions] == sorted(
            (s.probability for s in naming.suggestions), reverse=True
        )
        assert len({s.name for s in naming.suggestions}) == len(naming.suggestions)
        assert {s.source for s in naming.suggestions} == {"ecustfd", IMAGENET}  # both heads are heard
    # the closed-set head alone would have named every one of them one of its foods
    assert set(parts[0].predict(crops)) <= set(CLASSES)


def test_the_imagenet_head_names_a_food_it_knows_when_the_ecustfd_head_abstains(parts):
    (naming,) = _namer(parts).name(_crops(parts[2][len(CLASSES)], 1, seed=8))
    assert (naming.name, naming.recognised_by, naming.ndb) == ("pizza", IMAGENET, "21271")
    assert (naming.serving_g, naming.portion) == (96.0, "1 slice")
    assert naming.probability >= 0.5 and all(s.name != "pizza" for s in naming.suggestions)


def test_a_weak_imagenet_answer_is_not_taken(parts):
    """pizza_gain 0.2: ImageNet's best food is far below the threshold, so the crop is unknown, pizza a suggestion."""
    (naming,) = _namer(parts, pizza_gain=0.2).name(_crops(parts[2][len(CLASSES)], 1, seed=8))
    assert naming.name == UNKNOWN
    assert "pizza" in {s.name for s in naming.suggestions if s.source == IMAGENET}


def test_an_imagenet_answer_for_an_ecustfd_food_uses_the_ecustfd_name(parts):
    """A banana the ECUSTFD head abstains on (threshold above every score) is named by ImageNet as ECUSTFD's banana."""
    (naming,) = _namer(parts, known_score=1e9).name(_crops(parts[2][1], 1, seed=9))
    assert (naming.name, naming.display, naming.ndb, naming.recognised_by) == ("banana", "Banana", "09040", IMAGENET)
    assert naming.serving_g is None  # the portion model knows the 19 foods


def test_the_known_threshold_decides(parts):
    crops = _crops(parts[2][0], 10, seed=10)
    assert all(n.name == "apple" for n in _namer(parts, known_score=-1e9).name(crops))
    assert all(n.name == UNKNOWN for n in _namer(parts, known_score=1e9, imagenet_probability=None).name(crops))


def write_namer(directory: Path, parts, thresholds: Thresholds) -> tuple[Path, Path, Path]:
    """A detector dir (crop classifier), a backbone dir (weights with the ImageNet head) and a namer dir."""
    import torch

    classifier, stats, _, _ = parts
    detector, backbone, namer = (directory / name for name in ("detector", "backbone", "namer"))
    for d in (detector, backbone, namer):
        d.mkdir(parents=True)
    classifier.save(detector / CLASSIFIER_FILE)
    weight, bias = _imagenet_head()
    state = {
        "classifier.1.weight": torch.from_numpy(weight.astype(np.float32)),
        "classifier.1.bias": torch.from_numpy(bias),
    }
    torch.save(state, backbone / "mobilenet_v2.pth")
    stats.save(namer / STATS_FILE)
    spec = {"thresholds": thresholds.to_dict(), "imagenet_foods": [f.to_dict() for f in FOODS], "ecustfd": ECUSTFD}
    (namer / NAMER_FILE).write_text(json.dumps(spec))
    return detector, backbone, namer


def test_from_dirs_reads_the_thresholds_from_the_namer_json(parts, tmp_path):
    thresholds = Thresholds(known_score=float(parts[3]), imagenet_probability=0.6, knn_weight=1.0)
    detector, backbone, namer_dir = write_namer(tmp_path, parts, thresholds)
    namer = FoodNamer.from_dirs(detector, backbone, namer_dir)
    assert namer.thresholds == thresholds
    assert [f.key for f in namer.imagenet_foods] == ["banana", "pizza"]
    crop = _crops(parts[2][0], 1, seed=11)
    assert namer.name(crop)[0].name == "apple"
    spec = json.loads((namer_dir / NAMER_FILE).read_text())
    spec["thresholds"]["known_score"], spec["thresholds"]["imagenet_probability"] = 1e9, None
    (namer_dir / NAMER_FILE).write_text(json.dumps(spec))
    assert FoodNamer.from_dirs(detector, backbone, namer_dir).name(crop)[0].name == UNKNOWN


def test_from_dirs_without_a_namer_says_which_stage_makes_it(parts, tmp_path):
    detector, backbone, namer_dir = write_namer(tmp_path, parts, Thresholds(0.0, None, 1.0))
    (namer_dir / NAMER_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="evaluate_openset"):
        FoodNamer.from_dirs(detector, backbone, namer_dir)


class _Localiser:
    def __init__(self, boxes):
        self.boxes = boxes

    def __call__(self, images):
        return [[Detection(FOOD, 0.9, *box) for box in self.boxes] for _ in images]


class _Extractor:
    def __init__(self, features):
        self.features = features

    def __call__(self, crops):
        return self.features[: len(crops)]


def test_the_detector_names_boxes_with_the_namer_and_keeps_the_argmax_without(parts):
    from PIL import Image

    classifier, _, centres, _ = parts
    features = np.concatenate([_crops(centres[0], 1, 12), _crops(centres[len(CLASSES)], 1, 13)])
    boxes = [(0, 0, 10, 10), (20, 20, 40, 40)]
    image = Image.new("RGB", (64, 64))
    plain = FoodDetector(_Localiser(boxes), _Extractor(features), classifier)
    named = FoodDetector(
        _Localiser(boxes), _Extractor(features), classifier, namer=_namer(parts, imagenet_probability=None)
    )
    (without,), (with_namer,) = plain([image]), named([image])
    assert all(b.naming is None for b in without) and {b.label for b in without} <= set(CLASSES)
    by_box = {b.box: b for b in with_namer}
    known, unknown = by_box[Box(0, 0, 10, 10)], by_box[Box(20, 20, 40, 40)]
    assert known.label == known.naming.name == "apple"
    assert unknown.label == UNKNOWN and unknown.naming.suggestions
    assert unknown.class_probability == pytest.approx(unknown.naming.probability)
    assert unknown.confidence == pytest.approx(0.9 * unknown.naming.probability)
