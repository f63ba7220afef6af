"""Cloud namers (Bedrock vision, Rekognition labels) that name a food crop or photo our models can't: off by default."""

from serving.namers.bedrock import BedrockVisionNamer
from serving.namers.rekognition import RekognitionNamer
from serving.namers.settings import NamerConfigError, NamerSettings, namer_from_env
from serving.namers.suggestion import Namer, Suggestion, Usage
from serving.namers.vocabulary import FoodVocabulary

__all__ = [
    "BedrockVisionNamer",
    "FoodVocabulary",
    "Namer",
    "NamerConfigError",
    "NamerSettings",
    "RekognitionNamer",
    "Suggestion",
    "Usage",
    "namer_from_env",
]
