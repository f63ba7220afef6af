"""Open-set naming of food crops: one of the 19 ECUSTFD foods, an ImageNet food as a second opinion, or `unknown`.

The ECUSTFD head answers only when its crop looks like what it was trained on: the score is the log of its top
probability plus `knn_weight` × the cosine similarity of the crop (standardised, PCA-reduced) to its nearest training
crop. Below the threshold it abstains and the ImageNet-1k head of the same MobileNetV2 gives a second opinion, taken
only when its best *food* class (data/foods.yaml `imagenet:`) is probable enough; a non-food ImageNet answer never
means "not food". Thresholds and statistics come from the evaluate_openset stage (chosen on validation crops). Numpy
only at inference; loading the ImageNet head from the backbone weights needs torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.inference.crop_classifier import WEIGHTS_FILE as CLASSIFIER_FILE
from training.inference.crop_classifier import CropClassifier

UNKNOWN = "unknown"
UNKNOWN_DISPLAY = "Something I don't recognise"
NAMER_FILE = "namer.json"  # thresholds, ImageNet food map, ECUSTFD displays
STATS_FILE = "openset.npz"  # the open-set statistics (PCA basis, training-crop bank)
MAX_SUGGESTIONS = 3
ECUSTFD, IMAGENET = "ecustfd", "imagenet"


@dataclass(frozen=True)
class Suggestion:
    name: str  # an ECUSTFD type ("apple") or an ImageNet food key from foods.yaml ("pizza")
    display: str
    probability: float  # the source's own probability for it
    source: str  # "ecustfd" | "imagenet" | "bedrock" | "rekognition"
    ndb: str | None  # SR28 NDB number (None for the 4 ECUSTFD foods SR28 lacks)


@dataclass(frozen=True)
class Naming:
    name: str  # ECUSTFD type, ImageNet food key, or UNKNOWN
    display: str
    ndb: str | None
    probability: float  # of the answer given (for UNKNOWN: the best suggestion's)
    recognised_by: str | None  # "ecustfd" | "imagenet" | None for UNKNOWN
    suggestions: tuple[Suggestion, ...]  # up to 3, best first, never the answer itself
    serving_g: float | None  # ImageNet foods: the SR28 household portion's grams, else None
    portion: str | None  # that portion's words, e.g. "1 slice"


@dataclass(frozen=True)
class ImagenetFood:
    """An ImageNet-1k class we answer as a food; `ecustfd` when it is one of the 19 (then no portion of its own)."""

    key: str
    index: int
    display: str
    ndb: str | None
    serving_g: float | None = None
    portion: str | None = None
    ecustfd: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class OpenSetStats:
    """Training crops, standardised by the head, PCA-reduced and unit-normalised: the bank a crop is compared to."""

    pca_mean: np.ndarray  # [n_features]
    components: np.ndarray  # [k, n_features]
    bank: np.ndarray  # [n_train, k], rows of unit norm

    def project(self, standardised: np.ndarray) -> np.ndarray:
        reduced = (standardised - self.pca_mean) @ self.components.T
        return reduced / np.maximum(np.linalg.norm(reduced, axis=1, keepdims=True), 1e-12)

    def nearest_similarity(self, standardised: np.ndarray) -> np.ndarray:
        """[N] cosine similarity to the nearest training crop."""
        return (self.project(standardised) @ self.bank.T).max(axis=1)

    def save(self, path: Path) -> None:
        np.savez(path, pca_mean=self.pca_mean, components=self.components, bank=self.bank)

    @classmethod
    def load(cls, path: Path) -> OpenSetStats:
        if not Path(path).is_file():
            raise FileNotFoundError(f"open-set statistics not found: {path} (run `dvc repro evaluate_openset`)")
        with np.load(path) as data:
            return cls(data["pca_mean"], data["components"], data["bank"])

    @classmethod
    def fit(cls, classifier: CropClassifier, features: np.ndarray, components: int) -> OpenSetStats:
        """PCA (by SVD) of the head-standardised `features`, its first `components` axes kept."""
        standardised = (features - classifier.mean) / classifier.scale
        mean = standardised.mean(axis=0)
        _, _, vt = np.linalg.svd(standardised - mean, full_matrices=False)
        reduced = (standardised - mean) @ vt[:components].T
        return cls(mean, vt[:components], reduced / np.maximum(np.linalg.norm(reduced, axis=1, keepdims=True), 1e-12))


@dataclass(frozen=True)
class Thresholds:
    known_score: float  # the ECUSTFD head answers from this score up
    imagenet_probability: float | None  # the ImageNet head's best food answers from this up; None: never
    knn_weight: float  # weight of the nearest-crop similarity in the score

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def known_scores(
    classifier: CropClassifier, stats: OpenSetStats, features: np.ndarray, knn_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """ECUSTFD probabilities [N, classes] and the open-set score [N] (higher: more like a known food)."""
    probabilities = classifier.probabilities(features)
    standardised = (np.atleast_2d(features) - classifier.mean) / classifier.scale
    score = np.log(np.maximum(probabilities.max(axis=1), 1e-12)) + knn_weight * stats.nearest_similarity(standardised)
    return probabilities, score


def load_imagenet_head(backbone_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The ImageNet-1k head (`classifier.1`, [1000, 1280] and [1000]) of the backbone's MobileNetV2 weights."""
    import torch

    from training.inference.backbone import WEIGHTS_FILE

    path = Path(backbone_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights not found: {path} (run `dvc repro fetch_backbone`)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in ("classifier.1.weight", "classifier.1.bias") if k not in state]
    if missing:
        raise ValueError(f"{path} has no ImageNet head: {missing} missing")
    return state["classifier.1.weight"].numpy().astype(np.float32), state["classifier.1.bias"].numpy()


class FoodNamer:
    """Names crops from their MobileNetV2 features: ECUSTFD head, ImageNet second opinion, or UNKNOWN."""

    def __init__(
        self,
        classifier: CropClassifier,
        stats: OpenSetStats,
        thresholds: Thresholds,
        imagenet_weight: np.ndarray,
        imagenet_bias: np.ndarray,
        imagenet_foods: list[ImagenetFood],
        ecustfd: dict[str, dict] | None = None,
    ):
        """`ecustfd`: {type: {"display", "ndb"}} of the 19 foods (display defaults to the type, ndb to None)."""
        if imagenet_weight.shape[1] != classifier.coef.shape[1]:
            raise ValueError(
                f"ImageNet head takes {imagenet_weight.shape[1]} features, the classifier {classifier.coef.shape[1]}"
            )
        self.classifier, self.stats, self.thresholds = classifier, stats, thresholds
        self.imagenet_weight, self.imagenet_bias = imagenet_weight, imagenet_bias
        self.imagenet_foods = list(imagenet_foods)
        self._food_index = np.array([f.index for f in self.imagenet_foods], dtype=np.intp)
        self.ecustfd = ecustfd or {}

    @classmethod
    def from_dirs(cls, detector_dir: Path, backbone_dir: Path, namer_dir: Path) -> FoodNamer:
        """The served namer: the crop classifier of `detector_dir`, the ImageNet head of `backbone_dir`'s weights,
        the thresholds, food map and statistics evaluate_openset wrote to `namer_dir`."""
        namer_dir = Path(namer_dir)
        spec_path = namer_dir / NAMER_FILE
        if not spec_path.is_file():
            raise FileNotFoundError(f"namer not found: {spec_path} (run `dvc repro evaluate_openset`)")
        spec = json.loads(spec_path.read_text())
        weight, bias = load_imagenet_head(backbone_dir)
        return cls(
            CropClassifier.load(Path(detector_dir) / CLASSIFIER_FILE),
            OpenSetStats.load(namer_dir / STATS_FILE),
            Thresholds(**spec["thresholds"]),
            weight,
            bias,
            [ImagenetFood(**f) for f in spec["imagenet_foods"]],
            spec.get("ecustfd"),
        )

    def imagenet_food_probabilities(self, features: np.ndarray) -> np.ndarray:
        """[N, len(imagenet_foods)]: each mapped food class's probability in the softmax over all 1000 classes."""
        logits = np.atleast_2d(features) @ self.imagenet_weight.T + self.imagenet_bias
        return softmax(logits)[:, self._food_index]

    def _ecustfd_suggestion(self, k: int, probability: float) -> Suggestion:
        name = self.classifier.classes[k]
        info = self.ecustfd.get(name, {})
        return Suggestion(name, info.get("display", name), probability, ECUSTFD, info.get("ndb"))

    def _imagenet_suggestion(self, j: int, probability: float) -> Suggestion:
        food = self.imagenet_foods[j]
        if food.ecustfd:
            info = self.ecustfd.get(food.key, {})
            return Suggestion(food.key, info.get("display", food.display), probability, IMAGENET, info.get("ndb"))
        return Suggestion(food.key, food.display, probability, IMAGENET, food.ndb)

    def name(self, features: np.ndarray) -> list[Naming]:
        """One Naming per row of `features` ([N, 1280] MobileNetV2 pooled features)."""
        features = np.atleast_2d(features)
        if not len(features):
            return []
        probabilities, scores = known_scores(self.classifier, self.stats, features, self.thresholds.knn_weight)
        food_probs = (
            self.imagenet_food_probabilities(features)
            if self.imagenet_foods
            else np.zeros((len(features), 0), dtype=np.float64)
        )
        return [self._one(p, s, q) for p, s, q in zip(probabilities, scores, food_probs)]

    def _one(self, probs: np.ndarray, score: float, food_probs: np.ndarray) -> Naming:
        ranked = [self._ecustfd_suggestion(int(k), float(probs[k])) for k in np.argsort(-probs)[: MAX_SUGGESTIONS + 1]]
        imagenet = [self._imagenet_suggestion(int(j), float(food_probs[j])) for j in np.argsort(-food_probs)]
        if score >= self.thresholds.known_score:
            best = ranked[0]
            return self._answer(best, ECUSTFD, [*ranked[1:], *imagenet[:1]])
        floor = self.thresholds.imagenet_probability
        if imagenet and floor is not None and imagenet[0].probability >= floor:
            return self._answer(imagenet[0], IMAGENET, [*ranked, *imagenet[1:]])
        # Both heads are heard: the ECUSTFD head's two best and ImageNet's best food, then whatever else is likeliest.
        heard = [*ranked[: MAX_SUGGESTIONS - 1], *imagenet[:1]]
        rest = sorted([*ranked[MAX_SUGGESTIONS - 1 :], *imagenet[1:MAX_SUGGESTIONS]], key=lambda s: -s.probability)
        chosen = _distinct([*_distinct(heard, exclude=UNKNOWN), *rest], exclude=UNKNOWN)
        suggestions = tuple(sorted(chosen, key=lambda s: -s.probability))
        return Naming(
            UNKNOWN,
            UNKNOWN_DISPLAY,
            None,
            suggestions[0].probability if suggestions else 0.0,
            None,
            suggestions,
            None,
            None,
        )

    def _answer(self, best: Suggestion, source: str, others: list[Suggestion]) -> Naming:
        food = next((f for f in self.imagenet_foods if f.key == best.name and not f.ecustfd), None)
        serving = (food.serving_g, food.portion) if source == IMAGENET and food is not None else (None, None)
        others = sorted(others, key=lambda s: -s.probability)
        return Naming(
            best.name, best.display, best.ndb, best.probability, source, _distinct(others, best.name), *serving
        )


def _distinct(suggestions: list[Suggestion], exclude: str) -> tuple[Suggestion, ...]:
    """The first MAX_SUGGESTIONS suggestions with distinct names, none named `exclude`."""
    seen, out = {exclude}, []
    for s in suggestions:
        if s.name not in seen:
            seen.add(s.name)
            out.append(s)
    return tuple(out[:MAX_SUGGESTIONS])
