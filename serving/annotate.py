"""Draw what the model saw — boxes, names, grams — onto the photo, for people who would rather look than read."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from serving.schemas import AnalyzeResponse

_FOOD = (46, 204, 113)
_REFERENCE = (241, 196, 15)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow builds without FreeType ignore the size
        return ImageFont.load_default()


def annotate(image: Image.Image, result: AnalyzeResponse) -> bytes:
    """Return a PNG of `image` with every item's box and label, and the reference object, drawn on it.

    `result`'s boxes are in the photo's pixels (`result.image`); `image` may be a smaller decoded copy of it."""
    canvas = image.convert("RGB").copy()
    draw = ImageDraw.Draw(canvas)
    k = canvas.width / result.image.width if result.image.width else 1.0

    def xyxy(b) -> tuple[float, float, float, float]:
        return (b.xmin * k, b.ymin * k, b.xmax * k, b.ymax * k)

    width = max(2, round(max(canvas.size) / 300))
    font = _font(max(12, round(max(canvas.size) / 40)))
    if result.reference.box is not None:
        x0, _, _, y1 = xyxy(result.reference.box)
        draw.rectangle(xyxy(result.reference.box), outline=_REFERENCE, width=width)
        draw.text((x0, y1 + 2), result.reference.kind, fill=_REFERENCE, font=font)
    for item in result.items:
        x0, y0, _, _ = xyxy(item.box)
        draw.rectangle(xyxy(item.box), outline=_FOOD, width=width)
        if item.kcal is None:  # unknown: its best guesses instead of nutrients
            guesses = " / ".join(s.display_name for s in item.suggestions[:2])
            label = f"? {guesses}" if guesses else "? unknown food"
        else:
            label = f"{item.display_name} ~{item.grams:.0f} g, {item.kcal:.0f} kcal"
        left, top, right, bottom = draw.textbbox((x0, y0), label, font=font)
        y = max(0, y0 - (bottom - top) - 4)
        draw.rectangle((left, y, right + 4, y + bottom - top + 4), fill=_FOOD)
        draw.text((x0 + 2, y + 1), label, fill=(0, 0, 0), font=font)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()
