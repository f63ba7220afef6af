"""Typed view of params.yaml: every stage reads its parameters through `load_params`."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from training.model_names import DETECTOR_MODEL, PORTION_MODEL

PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """params.yaml is missing or does not match the schema."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paths(_Section):
    raw_ecustfd: Path
    raw_usda: Path
    prepared: Path
    nutrition: Path
    foods_map: Path
    data_reports: Path
    backbone: Path
    features: Path
    detector: Path
    detector_reports: Path
    portion: Path
    portion_reports: Path
    meal_reports: Path
    serving: Path
    serving_reports: Path
    namer: Path
    openset_reports: Path
    samples: Path
    labelled: Path
    trunk: Path
    portion_tuned: Path


class EcustfdSource(_Section):
    source: str
    upstream_url: str
    rev: str
    expected_images: int = Field(gt=0)


class UsdaSource(_Section):
    source: str


class SamplePhoto(_Section):
    member: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    licence: str


class SamplesSource(_Section):
    source: str
    photos: dict[str, SamplePhoto]


class DataSources(_Section):
    ecustfd: EcustfdSource
    usda: UsdaSource
    samples: SamplesSource


class BackboneParams(_Section):
    source: str
    member: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class PrepareParams(_Section):
    seed: int
    val_fraction: float = Field(gt=0, lt=0.5)
    test_fraction: float = Field(gt=0, lt=0.5)
    image_mode: Literal["symlink", "copy"] = "symlink"


class ExtractFeaturesParams(_Section):
    pad_fraction: float = Field(ge=0, le=1)
    size: int = Field(ge=32, le=1024)
    batch_size: int = Field(ge=1)


class DetectorProfile(_Section):
    model: str
    imgsz: int = Field(ge=32)
    epochs: int = Field(ge=1)
    batch: int = Field(ge=1)
    fraction: float = Field(gt=0, le=1)
    warmup_epochs: float = Field(ge=0)
    close_mosaic: int = Field(ge=0)
    workers: int = Field(ge=0)


class ClassifierParams(_Section):
    c_grid: list[float] = Field(min_length=1)


class TrainDetectorParams(_Section):
    profile: str
    seed: int
    # Where the localiser trains: `auto` is cuda:0 when torch sees a GPU, else cpu (training/detector/fit.py
    # resolves it). Serving and the evaluate stages run on the CPU whatever this says.
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    profiles: dict[str, DetectorProfile]
    augmentation: dict[str, float]
    classifier: ClassifierParams

    @property
    def active(self) -> DetectorProfile:
        if self.profile not in self.profiles:
            raise ParamsError(f"train_detector.profile {self.profile!r} is not one of {sorted(self.profiles)}")
        return self.profiles[self.profile]


class RegisterDetectorParams(_Section):
    model_name: str = DETECTOR_MODEL  # serving imports this name: leave it out of params.yaml
    gate_metric: str
    min_food_top1: float = Field(ge=0, le=1)
    conf: float = Field(gt=0, lt=1)
    guards: list[str] = []  # logged metrics that must not be worse than the champion's either


ThresholdValue = Annotated[float, Field(ge=0, lt=1)]
OverlapValue = Annotated[float, Field(gt=0, le=1)]
# tune_serving's objectives: a figure of evaluate_meal's "model" section, and whether higher is better.
SERVING_OBJECTIVES = {"meal_within_20pct_kcal": True, "meal_kcal_mape": False}


class TuneServingParams(_Section):
    """The served thresholds' grid, swept on the validation photos; ties go to the earliest grid point."""

    objective: Literal["meal_within_20pct_kcal", "meal_kcal_mape"]
    tie_tolerance: float = Field(default=0.0, ge=0)
    food: list[ThresholdValue] = Field(min_length=1)
    coin: list[ThresholdValue] = Field(min_length=1)
    overlap_iou: list[OverlapValue] = Field(min_length=1)

    @property
    def higher_is_better(self) -> bool:
        return SERVING_OBJECTIVES[self.objective]


class TrainPortionParams(_Section):
    seed: int
    pca_components: int = Field(ge=0, le=256)
    hidden: int = Field(ge=4)
    dropout: float = Field(ge=0, lt=1)
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    epochs: int = Field(ge=1)
    members: int = Field(ge=1)
    view_unknown_copies: bool = True
    size_prior_slope: float | None = Field(default=None, gt=0)
    cv_folds: int = Field(ge=2)
    cv_members: int = Field(ge=1)
    plate_diameter_mm: float = Field(default=260.0, gt=0)  # the plate size served photos are scaled by


class CachedAugmentation(_Section):
    pad_fraction: float = Field(ge=0, le=1)
    flip: bool = False


class FinetunePortionParams(_Section):
    """Fine-tuning MobileNetV2's last blocks on grams from cached trunk activations; the grid (first tuned block ×
    learning rate) and the epoch count are chosen by item-grouped CV over train+val, on train_portion's folds."""

    seed: int
    augmentations: list[CachedAugmentation] = []  # cached beside the served crop (extract_features' pad, unflipped)
    first_tuned: list[Annotated[int, Field(ge=14, le=17)]] = Field(min_length=1)
    lr: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    epochs: int = Field(ge=1)  # the most tried; CV scores every count up to it
    batch_size: int = Field(ge=1)
    head_lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    hidden: int = Field(ge=4)
    dropout: float = Field(ge=0, lt=1)


class RegisterPortionParams(_Section):
    model_name: str = PORTION_MODEL
    gate_metric: str
    min_gain_over_class_mean: float = Field(lt=1)  # negative lets a worse model through: smoke runs only
    min_cv_gain_over_frozen: float = 0.005  # the fine-tuned model replaces the frozen one only by this CV margin


class EvaluateOpensetParams(_Section):
    """Leave-foods-out evaluation of the open-set namer; its thresholds are chosen on the val crops only."""

    seed: int
    folds: int = Field(ge=2)
    c: float = Field(gt=0)
    pca_components: int = Field(ge=1, le=1280)
    knn_weights: list[Annotated[float, Field(ge=0)]] = Field(min_length=1)
    known_rejection_budget: float = Field(ge=0, lt=1)
    budget_counts: Literal["known", "named_right"] = "known"
    imagenet_probability: list[Annotated[float, Field(ge=0, le=1)]] = Field(min_length=1)
    imagenet_min_precision: float = Field(gt=0, le=1)
    goal_unknown_ok: float = Field(ge=0, le=1)
    goal_known_rejected: float = Field(ge=0, le=1)


class ImportLabelsParams(_Section):
    """Where the bot's exported labelled examples are read from; None: there are none."""

    source: Path | None = None


class LearningCurveParams(_Section):
    """Teaching a hidden food with k labelled photos; the folds are evaluate_openset's."""

    ks: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    repeats: int = Field(ge=1)
    retrain_repeats: int = Field(ge=1)
    gallery_cosine: list[Annotated[float, Field(gt=-1, le=1)]] = Field(min_length=1)
    at_k: int = Field(ge=1)
    known_top1_drop: float = Field(ge=0, le=1)
    unknown_named_new: float = Field(ge=0, le=1)
    goal_new_top1: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _at_k_drawn(self) -> LearningCurveParams:
        if self.at_k not in self.ks:
            raise ValueError(f"learning_curve.at_k {self.at_k} is not one of ks {self.ks}")
        if self.retrain_repeats > self.repeats:
            raise ValueError(f"retrain_repeats {self.retrain_repeats} exceeds repeats {self.repeats}")
        return self


class Params(BaseModel):
    """All of params.yaml. Later stages add their sections here."""

    model_config = ConfigDict(extra="allow", frozen=True)

    paths: Paths
    data: DataSources
    backbone: BackboneParams
    prepare: PrepareParams
    extract_features: ExtractFeaturesParams
    train_detector: TrainDetectorParams
    register_detector: RegisterDetectorParams
    tune_serving: TuneServingParams
    train_portion: TrainPortionParams
    finetune_portion: FinetunePortionParams
    register_portion: RegisterPortionParams
    evaluate_openset: EvaluateOpensetParams
    import_labels: ImportLabelsParams = ImportLabelsParams()
    learning_curve: LearningCurveParams


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    """Read and validate params.yaml.

    Raises:
        ParamsError: the file is absent, not YAML, or fails validation.
    """
    return _load(Path(path).resolve())


@cache
def _load(path: Path) -> Params:
    if not path.is_file():
        raise ParamsError(f"parameters file not found: {path} (run from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(f"{path} does not match the expected parameters:\n{exc}") from exc
