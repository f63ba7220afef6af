"""Rekognition namer: `DetectLabels` on a crop or photo, keeping the labels Rekognition files under food."""

from __future__ import annotations

import logging

from PIL import Image

from serving.namers.settings import NamerSettings
from serving.namers.suggestion import Box, Suggestion, Usage, best_first, jpeg_for_upload
from serving.namers.vocabulary import FoodVocabulary, normalise

log = logging.getLogger(__name__)

FOOD_CATEGORY = "Food and Beverage"
# Labels that say "food" without saying which: no nutrition can be looked up for "Meal" or "Produce".
GENERIC = frozenset(
    [
        "food",
        "meal",
        "dish",
        "cuisine",
        "produce",
        "plant",
        "lunch",
        "dinner",
        "breakfast",
        "brunch",
        "supper",
        "snack",
        "beverage",
        "drink",
        "fruit",
        "vegetable",
        "dessert",
        "platter",
    ]
)


class RekognitionNamer:
    """Names a crop or photo with Amazon Rekognition `DetectLabels` (billed per image).

    A label counts as food when its categories include "Food and Beverage" or its parents include "Food"; of
    those, generic labels and any label that is another food label's parent ("Fruit" beside "Apple") are dropped.
    """

    source = "rekognition"

    def __init__(self, client, settings: NamerSettings, vocabulary: FoodVocabulary):
        self.client, self.settings, self.vocabulary = client, settings, vocabulary

    def request(self, jpeg: bytes) -> dict:
        s = self.settings
        return {
            "Image": {"Bytes": jpeg},
            "MaxLabels": s.rekognition_max_labels,
            "MinConfidence": s.rekognition_min_confidence,
            "Features": ["GENERAL_LABELS"],  # image properties are billed extra
            # Asked server-side too, so tables and cutlery don't use up MaxLabels; filtered again below.
            "Settings": {"GeneralLabels": {"LabelCategoryInclusionFilters": [FOOD_CATEGORY]}},
        }

    def name(self, image: bytes | Image.Image, box: Box | None = None) -> tuple[list[Suggestion], Usage]:
        """Suggestions for the foods in `image` (cropped to `box` if given), best first, and what the call cost.
        Never raises for the service's sake: an error gives no suggestions and a log line."""
        from botocore.exceptions import BotoCoreError, ClientError  # boto only where a namer is configured

        nothing = Usage(self.source, "DetectLabels")
        try:
            jpeg = jpeg_for_upload(image, box, self.settings.max_side_px)
        except ValueError as exc:
            log.error("rekognition namer: cannot prepare the image (%s)", exc)
            return [], nothing
        try:
            response = self.client.detect_labels(**self.request(jpeg))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            log.warning("rekognition namer: %s from DetectLabels; no suggestions", code)
            return [], nothing
        except BotoCoreError as exc:
            log.warning("rekognition namer: Rekognition unreachable (%s); no suggestions", exc)
            return [], nothing
        version = response.get("LabelModelVersion")
        model = f"DetectLabels/{version}" if version else "DetectLabels"
        usage = Usage(self.source, model, images=1, cost_usd=self.settings.rekognition_usd_per_image)
        labels = food_labels(response.get("Labels", []))
        suggestions = [self._suggestion(label["Name"], float(label.get("Confidence", 0)) / 100) for label in labels]
        return best_first(suggestions, self.settings.max_suggestions), usage

    def _suggestion(self, label: str, probability: float) -> Suggestion:
        probability = min(1.0, max(0.0, probability))
        word = self.vocabulary.resolve(label)
        if word is None:
            return Suggestion(normalise(label), label.strip(), probability, self.source, None)
        return Suggestion(word.name, word.display, probability, self.source, word.ndb)


def food_labels(labels: list[dict]) -> list[dict]:
    """The specific food labels among DetectLabels' `Labels`, in their order."""

    def parents(label: dict) -> set[str]:
        return {normalise(p.get("Name", "")) for p in label.get("Parents", [])}

    foods = [
        label
        for label in labels
        if label.get("Name")
        and (any(c.get("Name") == FOOD_CATEGORY for c in label.get("Categories", [])) or "food" in parents(label))
    ]
    broader = set().union(*(parents(label) for label in foods)) if foods else set()
    return [label for label in foods if normalise(label["Name"]) not in GENERIC | broader]
