import io

import pytest
from PIL import Image

from serving.image_input import ImageLimits, ImageRejected, decode_image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_supported_formats_decode_to_rgb(fmt):
    image = decode_image(encode(Image.new("RGBA" if fmt == "PNG" else "RGB", (120, 80), "red"), fmt))
    assert image.mode == "RGB" and image.size == (120, 80)


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    data = encode(Image.new("RGB", (120, 80), "red"), "JPEG", exif=exif)
    assert decode_image(data).size == (80, 120)


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"", 400, "empty"),
        (b"hello, this is text, not a photo", 415, "not an image"),
        (encode(Image.new("RGB", (64, 64)), "GIF"), 415, "GIF images are not supported"),
        (encode(Image.new("RGB", (10, 10)), "PNG"), 400, "too small"),
    ],
)
def test_rejections(data, status, message):
    with pytest.raises(ImageRejected, match=message) as info:
        decode_image(data)
    assert info.value.status == status


def test_truncated_jpeg():
    data = encode(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG")
    with pytest.raises(ImageRejected, match="truncated or corrupt") as info:
        decode_image(data[: len(data) // 2])
    assert info.value.status == 400


def test_size_limit():
    data = encode(Image.new("RGB", (64, 64)), "PNG")
    with pytest.raises(ImageRejected, match="limit") as info:
        decode_image(data, ImageLimits(max_bytes=len(data) - 1))
    assert info.value.status == 413


def test_decompression_bomb_is_refused_before_decoding():
    data = encode(Image.new("L", (6000, 6000)), "PNG")  # ~36 MP, a few kB on the wire
    assert len(data) < 200_000
    with pytest.raises(ImageRejected, match="pixels") as info:
        decode_image(data, ImageLimits(max_pixels=10_000_000))
    assert info.value.status == 413
