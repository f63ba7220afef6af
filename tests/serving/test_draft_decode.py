"""JPEG draft decoding: a large photo is decoded at 1/2, 1/4 or 1/8 scale, never below `draft_px` on its long side,
and remembers its own upright size, which the answer's boxes are in."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from serving.image_input import decode_image, photo_size


def _encode(size: tuple[int, int], fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    image = Image.linear_gradient("L").convert("RGB").resize(size)
    buffer = io.BytesIO()
    if orientation is None:
        image.save(buffer, format=fmt)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(buffer, format=fmt, exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("size", "draft_px", "decoded"),
    [
        ((4032, 3024), 1600, (2016, 1512)),  # 1/4 would be 1008 < 1600
        ((4032, 3024), 1000, (1008, 756)),
        ((1600, 1200), 1600, (1600, 1200)),  # already there: full size
        ((816, 612), 1600, (816, 612)),
        ((4032, 3024), None, (4032, 3024)),
    ],
)
def test_a_jpeg_is_decoded_no_smaller_than_needed(size, draft_px, decoded):
    image = decode_image(_encode(size), draft_px=draft_px)
    assert image.size == decoded and image.mode == "RGB"
    assert photo_size(image) == size


def test_the_photo_size_is_upright_after_exif_rotation():
    image = decode_image(_encode((4032, 3024), orientation=6), draft_px=1600)  # 6: rotate 90° to view
    assert image.size == (1512, 2016)
    assert photo_size(image) == (3024, 4032)


def test_other_formats_are_decoded_whole():
    image = decode_image(_encode((2400, 1800), fmt="PNG"), draft_px=1000)
    assert image.size == (2400, 1800) and photo_size(image) == (2400, 1800)
