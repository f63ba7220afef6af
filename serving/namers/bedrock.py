"""Bedrock vision namer: a multimodal model (Converse API, an image content block) lists the foods it sees as JSON."""

from __future__ import annotations

import json
import logging
import re

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serving.namers.settings import NamerSettings
from serving.namers.suggestion import Box, Suggestion, Usage, best_first, jpeg_for_upload
from serving.namers.vocabulary import FoodVocabulary, normalise

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You identify foods and drinks in photos for a nutrition app. Answer with JSON only, no prose: "
    '{"foods": [{"name": "<food>", "probability": <0 to 1>}]}. Use the plain English name a shopper would use, '
    'singular and specific ("cheeseburger", "fried rice", "green apple"), and the probability that the food is in '
    'the photo. List at most {n} foods, most likely first. If there is no food, answer {"foods": []}.'
)
USER_PROMPT = "Which foods are in this photo?"
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)\s*```", re.DOTALL)


class FoodGuess(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=80)
    probability: float = Field(ge=0, le=1)


class FoodsAnswer(BaseModel):
    """The JSON the model must answer with."""

    model_config = ConfigDict(extra="ignore")

    foods: list[FoodGuess] = Field(max_length=20)


class BedrockVisionNamer:
    """Names a crop or photo through a Bedrock multimodal model (default Amazon Nova Lite).

    Args:
        client: a boto3 `bedrock-runtime` client.
        settings: model id, token cap and prices.
        vocabulary: resolves the model's words to our foods.
    """

    source = "bedrock"

    def __init__(self, client, settings: NamerSettings, vocabulary: FoodVocabulary):
        self.client, self.settings, self.vocabulary = client, settings, vocabulary

    def request(self, jpeg: bytes) -> dict:
        """The Converse request for one JPEG."""
        s = self.settings
        return {
            "modelId": s.bedrock_vision_model,
            "system": [{"text": SYSTEM_PROMPT.replace("{n}", str(s.max_suggestions + 2))}],
            "messages": [
                {
                    "role": "user",
                    "content": [{"image": {"format": "jpeg", "source": {"bytes": jpeg}}}, {"text": USER_PROMPT}],
                }
            ],
            "inferenceConfig": {"maxTokens": s.bedrock_vision_max_tokens, "temperature": 0.0},
        }

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        s = self.settings
        return (
            input_tokens / 1000 * s.bedrock_vision_usd_per_1k_input_tokens
            + output_tokens / 1000 * s.bedrock_vision_usd_per_1k_output_tokens
        )

    def name(self, image: bytes | Image.Image, box: Box | None = None) -> tuple[list[Suggestion], Usage]:
        """Suggestions for the foods in `image` (cropped to `box` if given), best first, and what the call cost.

        Never raises for the service's sake: an error or an answer that isn't the JSON asked for gives no
        suggestions and a log line (a paid answer still reports its cost).
        """
        from botocore.exceptions import BotoCoreError, ClientError  # boto only where a namer is configured

        nothing = Usage(self.source, self.settings.bedrock_vision_model)
        try:
            jpeg = jpeg_for_upload(image, box, self.settings.max_side_px)
        except ValueError as exc:
            log.error("bedrock namer: cannot prepare the image (%s)", exc)
            return [], nothing
        try:
            response = self.client.converse(**self.request(jpeg))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            log.warning("bedrock namer: %s from %s; no suggestions", code, self.settings.bedrock_vision_model)
            return [], nothing
        except BotoCoreError as exc:
            log.warning("bedrock namer: Bedrock unreachable (%s); no suggestions", exc)
            return [], nothing
        tokens = response.get("usage", {})
        tokens_in, tokens_out = int(tokens.get("inputTokens", 0)), int(tokens.get("outputTokens", 0))
        usage = Usage(
            self.source,
            self.settings.bedrock_vision_model,
            tokens_in,
            tokens_out,
            1,
            self.cost_usd(tokens_in, tokens_out),
        )
        text = _text_of(response)
        answer = parse_answer(text)
        if answer is None:
            log.warning(
                "bedrock namer: answer is not the JSON asked for (stop: %s): %r", response.get("stopReason"), text[:300]
            )
            return [], usage
        return best_first([self._suggestion(g) for g in answer.foods], self.settings.max_suggestions), usage

    def _suggestion(self, guess: FoodGuess) -> Suggestion:
        word = self.vocabulary.resolve(guess.name)
        if word is None:
            return Suggestion(
                normalise(guess.name), guess.name.strip().capitalize(), guess.probability, self.source, None
            )
        return Suggestion(word.name, word.display, guess.probability, self.source, word.ndb)


def _text_of(response: dict) -> str:
    content = response.get("output", {}).get("message", {}).get("content", [])
    return "\n".join(block["text"] for block in content if "text" in block).strip()


def parse_answer(text: str) -> FoodsAnswer | None:
    """The model's answer as `FoodsAnswer`, or None. Tolerates a ```json fence, prose around the JSON, and a bare
    list of foods; rejects anything that fails the schema (a probability of 1.5, a missing name)."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    data = _first_json(text)
    if isinstance(data, list):
        data = {"foods": data}
    if not isinstance(data, dict):
        return None
    try:
        return FoodsAnswer.model_validate(data)
    except ValidationError as exc:
        log.info("bedrock namer: answer fails the schema: %s", exc.errors()[:3])
        return None


def _first_json(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            return decoder.raw_decode(text, match.start())[0]
        except json.JSONDecodeError:
            continue
    return None
