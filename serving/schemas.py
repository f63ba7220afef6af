"""The HTTP contract of `POST /analyze`: what the model server returns for one photo."""

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


class Item(Nutrients):
    """One food found on the plate."""

    name: str = Field(description="food type, e.g. 'apple'")
    display_name: str = Field(description="for people, e.g. 'Apple'")
    ndb: str | None = Field(description="USDA SR28 NDB number, None for foods SR28 lacks")
    confidence: float = Field(ge=0, le=1)
    box: BoxOut
    grams: float = Field(gt=0)
    grams_low: float = Field(gt=0, description="lower end of the ~80 % interval")
    grams_high: float = Field(gt=0, description="upper end of the ~80 % interval")


class Reference(BaseModel):
    """The object that set the scale: `coin` (25 mm), later `card` or `plate`; `none` means a prior was used."""

    kind: Literal["coin", "card", "plate", "none"]
    box: BoxOut | None = None
    mm_per_px: float | None = None


class Totals(Nutrients):
    grams: float = Field(ge=0)


class ImageInfo(BaseModel):
    width: int
    height: int


class ModelVersion(BaseModel):
    name: str
    version: str


class AnalyzeResponse(BaseModel):
    items: list[Item]
    reference: Reference
    totals: Totals
    image: ImageInfo
    models: dict[str, ModelVersion] = Field(description="keys 'detector' and 'portion'")
    timings_ms: dict[str, float] = Field(description="per stage: decode, detect, portion, nutrition, total")
    hint: str | None = Field(None, description="a sentence for people, e.g. when no food was found")
