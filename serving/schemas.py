"""The HTTP contract of `POST /analyze`: what the model server returns for one photo.

`SCHEMA_VERSION` is in every answer. 2 (Real meals I): an item may be `unknown` with suggestions and no
nutrients, items say who named them and what their grams rest on, and the scale may come from a plate or a
bank card. Clients that read version 1 keep working on named items; they must skip items whose kcal is null.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class BoxOut(BaseModel):
    """Pixel box in the (EXIF-rotated) image: top-left (xmin, ymin), bottom-right (xmax, ymax)."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float


class Nutrients(BaseModel):
    kcal: float = Field(ge=0)
    protein_g: float = Field(ge=0)
    fat_g: float = Field(ge=0)
    carbs_g: float = Field(ge=0)


SCHEMA_VERSION = 2
UNKNOWN = "unknown"

Source = Literal["ecustfd", "imagenet", "bedrock", "rekognition"]
GramsBasis = Literal["model", "size_prior", "class_prior", "household_portion", "none"]


class Suggestion(BaseModel):
    """What an unknown (or doubtful) food might be, according to one source."""

    name: str = Field(description="a food name the nutrition table knows, e.g. 'pizza'")
    display_name: str
    probability: float = Field(ge=0, le=1, description="the source's own probability for it")
    source: Source
    ndb: str | None = None


class Item(BaseModel):
    """One food found on the plate: named, or `unknown` with suggestions and null nutrients."""

    name: str = Field(description="food name, e.g. 'apple' or 'pizza', or 'unknown'")
    display_name: str = Field(description="for people, e.g. 'Apple'")
    ndb: str | None = Field(description="USDA SR28 NDB number, None for foods SR28 lacks and unknown items")
    confidence: float = Field(ge=0, le=1)
    recognised_by: Source | None = Field(description="which model named it; None for unknown items")
    suggestions: list[Suggestion] = Field(default_factory=list, description="up to 3, best first")
    box: BoxOut
    grams: float | None = Field(gt=0, description="None when nothing in the photo can size an unknown food")
    grams_low: float | None = Field(gt=0, description="lower end of the ~80 % interval")
    grams_high: float | None = Field(gt=0, description="upper end of the ~80 % interval")
    grams_basis: GramsBasis = Field(
        "model",
        description="model: the portion model on a measured size; size_prior: a food the portion model never saw, "
        "sized from its box; class_prior: no scale in the photo, the food's typical weight; household_portion: "
        "one SR28 household portion (e.g. '1 slice'); none: not sized",
    )
    portion: str | None = Field(None, description="the household portion the grams are, e.g. '1 slice'")
    embedding: str | None = Field(
        None,
        description="with ?embed=true: the crop's MobileNetV2 features, L2-normalised, as base64 of 1280 "
        "little-endian float16 (the bot's gallery of foods people taught it compares these)",
    )
    kcal: float | None = Field(ge=0, description="None for unknown items")
    protein_g: float | None = Field(ge=0)
    fat_g: float | None = Field(ge=0)
    carbs_g: float | None = Field(ge=0)


class Reference(BaseModel):
    """The object that set the scale: `coin` (25 mm), `card` (85.6 mm) or `plate` (an assumed diameter);
    `none` means no scale was found and the grams are priors."""

    kind: Literal["coin", "card", "plate", "none"]
    box: BoxOut | None = None
    mm_per_px: float | None = None


class Totals(Nutrients):
    """Of the named items only; `unknown_items` says how many are left out."""

    grams: float = Field(ge=0)
    unknown_items: int = Field(0, ge=0)


class ImageInfo(BaseModel):
    width: int
    height: int


class ModelVersion(BaseModel):
    name: str
    version: str


class AnalyzeResponse(BaseModel):
    schema_version: int = SCHEMA_VERSION
    items: list[Item]
    reference: Reference
    totals: Totals
    image: ImageInfo
    models: dict[str, ModelVersion] = Field(description="keys 'detector' and 'portion'")
    timings_ms: dict[str, float] = Field(description="per stage: decode, detect, portion, nutrition, total")
    usage: list[dict] = Field(
        default_factory=list,
        description="cloud namer calls made for this photo (service, model_id, tokens, images, cost_usd, ms): "
        "the bot puts their cost in its usage ledger",
    )
    whole_photo: bool = Field(False, description="no food box was found, so the whole photo was named as one dish")
    hint: str | None = Field(None, description="a sentence for people, e.g. when no food was found")
