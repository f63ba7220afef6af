"""Turn uploaded bytes into a safe, upright RGB image — or a clear 4xx reason why not."""

from __future__ import annotations

import io
import sys
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated upload is an error, not a grey half-photo

# MPO: a JPEG followed by more pictures (phones' HDR gain maps, depth, stereo); Pillow opens it at the first,
# which is the photo itself, and decodes only that one.
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "HEIF", "AVIF"})


class ImageRejected(ValueError):
    """The upload cannot be analysed. `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    # The most pixels decoded: a JPEG counts at its draft size (any phone photo fits, up to Pillow's own 89-MP bomb
    # limit), other formats at full size; 25 MP lets a 24-MP iPhone HEIC through. More is a bomb, not a photo.
    max_pixels: int = 25_000_000
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


PHOTO_SIZE = "photo_size"  # in a decoded image's `info`: the upright photo's own (width, height)
DRAFT_SCALES = (8, 4, 2)  # the DCT scalings libjpeg decodes to directly


def photo_size(image: Image.Image) -> tuple[int, int]:
    """The uploaded photo's upright size, which a draft-decoded `image` is smaller than."""
    return tuple(image.info.get(PHOTO_SIZE, image.size))


def _draft(image: Image.Image, draft_px: int) -> None:
    """Ask libjpeg to decode at 1/2, 1/4 or 1/8 scale, the smallest that keeps `draft_px` on the long side: the
    IDCT of the dropped pixels is never done (a 12-MP photo decodes in a fifth of the time)."""
    if image.format not in ("JPEG", "MPO"):
        return
    width, height = image.size
    scale = next((s for s in DRAFT_SCALES if max(width, height) / s >= draft_px), 1)
    if scale > 1:
        image.draft("RGB", (width // scale, height // scale))


def decode_image(data: bytes, limits: ImageLimits = ImageLimits(), draft_px: int | None = None) -> Image.Image:
    """Decode `data` into an RGB image with EXIF orientation applied.

    `draft_px`: a JPEG may be decoded smaller, down to this long side (`_draft`); its `photo_size` is then the
    photo's own size, which boxes are reported in.

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
            if draft_px:
                _draft(image, draft_px)
            if image.size[0] * image.size[1] > limits.max_pixels:  # checked before decoding, at the size decoded
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
    loaded = image.size
    image = ImageOps.exif_transpose(image)
    image.info[PHOTO_SIZE] = (width, height) if image.size == loaded else (height, width)
    if min(image.size) < limits.min_side:
        raise ImageRejected(f"the image is {image.size[0]}x{image.size[1]} pixels, too small to analyse")
    return image.convert("RGB")
