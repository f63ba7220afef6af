"""Which cloud namer serving uses, from the environment (prefix PLATE_): none unless asked for.

| variable | default | meaning |
|---|---|---|
| PLATE_NAMER | none | none, bedrock or rekognition |
| PLATE_NAMER_REGION | AWS_REGION / the AWS config | the service's region |
| PLATE_NAMER_FOODS_YAML | data/foods.yaml | our food names (ECUSTFD, ImageNet); FOODS alone if absent |
| PLATE_NAMER_MAX_SUGGESTIONS | 3 | suggestions returned, best first |
| PLATE_NAMER_MAX_SIDE_PX | 1024 | the crop/photo is shrunk to this before upload (fewer tokens, under the limits) |
| PLATE_NAMER_TIMEOUT_S | 4 | connect and read timeout of one call (the reply budget is short) |
| PLATE_BEDROCK_VISION_MODEL | amazon.nova-lite-v1:0 | a Converse model that takes images (a `us.`/`eu.` inference profile id where the region needs one) |
| PLATE_BEDROCK_VISION_MAX_TOKENS | 200 | the answer's token cap |
| PLATE_BEDROCK_VISION_USD_PER_1K_INPUT_TOKENS | 0.00006 | Nova Lite on-demand, us-east-1 list price ($0.06 / M) |
| PLATE_BEDROCK_VISION_USD_PER_1K_OUTPUT_TOKENS | 0.00024 | Nova Lite on-demand, us-east-1 list price ($0.24 / M) |
| PLATE_REKOGNITION_USD_PER_IMAGE | 0.001 | DetectLabels (group 2), first million images a month, us-east-1 |
| PLATE_REKOGNITION_MIN_CONFIDENCE | 60 | labels below this confidence (percent) are not returned |
| PLATE_REKOGNITION_MAX_LABELS | 15 | labels asked for |

Prices are estimates for the usage ledger; set them to your region's and contract's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.namers.vocabulary import FoodVocabulary

NAMERS = ("none", "bedrock", "rekognition")


class NamerConfigError(ValueError):
    """A PLATE_* namer variable has a value we can't use; the message names the variable and the value."""


class NamerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLATE_")

    namer: Literal["none", "bedrock", "rekognition"] = "none"
    namer_region: str | None = None
    namer_foods_yaml: Path | None = Path("data/foods.yaml")
    namer_max_suggestions: int = Field(3, ge=1, le=10)
    namer_max_side_px: int = Field(1024, ge=64, le=8000)
    namer_timeout_s: float = Field(4.0, gt=0)
    bedrock_vision_model: str = Field("amazon.nova-lite-v1:0", min_length=1)
    bedrock_vision_max_tokens: int = Field(200, ge=32, le=4096)
    bedrock_vision_usd_per_1k_input_tokens: float = Field(0.00006, ge=0)
    bedrock_vision_usd_per_1k_output_tokens: float = Field(0.00024, ge=0)
    rekognition_usd_per_image: float = Field(0.001, ge=0)
    rekognition_min_confidence: float = Field(60.0, ge=0, le=100)
    rekognition_max_labels: int = Field(15, ge=1, le=1000)

    @field_validator("namer", mode="before")
    @classmethod
    def _namer_words(cls, value):
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return "none"
        if isinstance(value, str):
            value = value.strip().lower()
            if value not in NAMERS:
                raise ValueError(f"not one of {', '.join(NAMERS)}")
        return value

    # the names the namers read
    @property
    def max_suggestions(self) -> int:
        return self.namer_max_suggestions

    @property
    def max_side_px(self) -> int:
        return self.namer_max_side_px


def load_settings(**overrides) -> NamerSettings:
    """The environment's NamerSettings (keyword arguments win), or NamerConfigError saying which variable is wrong."""
    try:
        return NamerSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"PLATE_{'_'.join(str(p) for p in e['loc']).upper()}={e.get('input')!r}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise NamerConfigError(f"bad cloud namer setting: {problems}") from exc


def namer_from_env(settings: NamerSettings | None = None, client=None):
    """The configured namer, or None (the default, PLATE_NAMER=none).

    Args:
        settings: defaults to the environment's.
        client: a boto3 client to use instead of building one (tests pass a stubbed client).

    Raises:
        NamerConfigError: a bad PLATE_* value, no AWS region, or boto3 missing.
    """
    from serving.namers.bedrock import BedrockVisionNamer  # here: the namers import this module
    from serving.namers.rekognition import RekognitionNamer

    settings = settings or load_settings()
    if settings.namer == "none":
        return None
    vocabulary = FoodVocabulary.from_foods_yaml(settings.namer_foods_yaml)
    service = "bedrock-runtime" if settings.namer == "bedrock" else "rekognition"
    client = client or _client(service, settings)
    cls = BedrockVisionNamer if settings.namer == "bedrock" else RekognitionNamer
    return cls(client, settings, vocabulary)


def _client(service: str, settings: NamerSettings):
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import NoRegionError
    except ImportError as exc:
        raise NamerConfigError(f"PLATE_NAMER={settings.namer!r} needs boto3: pip install boto3") from exc
    config = Config(
        connect_timeout=settings.namer_timeout_s,
        read_timeout=settings.namer_timeout_s,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    try:
        return boto3.client(service, region_name=settings.namer_region, config=config)
    except NoRegionError as exc:
        raise NamerConfigError(
            f"PLATE_NAMER={settings.namer!r} needs an AWS region: set PLATE_NAMER_REGION or AWS_REGION"
        ) from exc
