"""What a cloud namer answers: suggestions (the open-set naming's `Suggestion`) and the call's `Usage` for the ledger."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Protocol

from PIL import Image, ImageOps

from serving.image_input import ImageLimits, decode_image
from training.inference.naming import Suggestion  # source: "bedrock" | "rekognition" here

Box = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in pixels of the image given


@dataclass(frozen=True)
class Usage:
    """One cloud call's cost, for the bot's usage ledger (`Ledger.record_namer_usage(user, usage.as_dict(), now)`)."""

    service: str  # "bedrock" | "rekognition"
    model_id: str  # the Bedrock model id, or "DetectLabels[/label model version]"
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0  # images sent (Rekognition bills per image; Bedrock bills an image as input tokens)
    cost_usd: float = 0.0  # estimated from the per-unit prices in `NamerSettings`

    def as_dict(self) -> dict:
        """JSON-ready, for the analysis response; the bot's ledger reads `cost_usd`."""
        return asdict(self)


class Namer(Protocol):
    def name(self, image: bytes | Image.Image, box: Box | None = None) -> tuple[list[Suggestion], Usage]: ...


def jpeg_for_upload(image: bytes | Image.Image, box: Box | None, max_side_px: int, quality: int = 90) -> bytes:
    """The crop (or whole photo) as a JPEG no larger than `max_side_px` a side.

    Always re-encoded: it drops EXIF (a phone photo's GPS position has no business leaving us) and bounds the
    upload, which is both the services' size limits and, for Bedrock, the input tokens an image costs.
    """
    if isinstance(image, bytes | bytearray):
        image = decode_image(bytes(image), ImageLimits())  # upright RGB, or ImageRejected
    else:
        image = ImageOps.exif_transpose(image)
    image = image.convert("RGB")
    if box is not None:
        left, top = max(0, int(box[0])), max(0, int(box[1]))
        right, bottom = min(image.width, round(box[2])), min(image.height, round(box[3]))
        if right - left < 1 or bottom - top < 1:
            raise ValueError(f"box {box} is empty inside a {image.width}x{image.height} image")
        image = image.crop((left, top, right, bottom))
    if max(image.size) > max_side_px:
        image = image.copy()
        image.thumbnail((max_side_px, max_side_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def best_first(suggestions: list[Suggestion], limit: int) -> list[Suggestion]:
    """One suggestion per food (its highest probability), best first, at most `limit`."""
    best: dict[str, Suggestion] = {}
    for s in suggestions:
        if s.name not in best or s.probability > best[s.name].probability:
            best[s.name] = s
    return sorted(best.values(), key=lambda s: -s.probability)[:limit]
