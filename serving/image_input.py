"""Turn uploaded bytes into a safe, upright RGB image — or a clear 4xx reason why not."""

from __future__ import annotations

import io
import sys
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated upload is an error, not a grey half-photo

SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "HEIF", "AVIF"})


class ImageRejected(ValueError):
    """The upload cannot be analysed. `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000  # above this a small file is a decompression bomb, not a photo
    min_side: int = 32


def _register_heif() -> bool:
    try:
        import pillow_heif
    except ImportError:  # optional: HEIC photos are then refused with a 415
        return False
    pillow_heif.register_heif_opener()
    return True


def _pillow_open(data: bytes) -> Image.Image:
    """PIL's own `Image.open`: ultralytics swaps in a wrapper that, on an unidentified file, tries to
    pip-install and import `pi-heif` — an upload must never trigger that (nor a 500 when it fails)."""
    patches = sys.modules.get("ultralytics.utils.patches")
    opener = getattr(patches, "_image_open", Image.open)
    return opener(io.BytesIO(data))


def decode_image(data: bytes, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """Decode `data` into an RGB image with EXIF orientation applied.

    Raises:
        ImageRejected: empty (400), too large (413), unsupported type (415), not an image or corrupt (400),
            absurd pixel count (413), too small to analyse (400).
    """
    if not data:
        raise ImageRejected("the upload is empty (0 bytes); send a JPEG, PNG, WebP or HEIC photo")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            f"the photo is {len(data) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.1f} MB", status=413
        )
    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _pillow_open(data)
            fmt = image.format
            if fmt not in SUPPORTED_FORMATS:
                raise ImageRejected(f"{fmt} images are not supported; send JPEG, PNG, WebP or HEIC", status=415)
            width, height = image.size
            if width * height > limits.max_pixels:
                raise ImageRejected(
                    f"{width}x{height} pixels is more than the {limits.max_pixels:,} allowed", status=413
                )
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"the image has an absurd number of pixels: {exc}", status=413) from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(
            "the upload is not an image this service can read (JPEG, PNG, WebP, HEIC)", status=415
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"the image is truncated or corrupt: {exc}") from exc
    image = ImageOps.exif_transpose(image)
    if min(image.size) < limits.min_side:
        raise ImageRejected(f"the image is {image.size[0]}x{image.size[1]} pixels, too small to analyse")
    return image.convert("RGB")
