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


def _mpo(first: Image.Image, *others: Image.Image) -> bytes:
    """A multi-picture JPEG as phones write them (the photo, then e.g. an HDR gain map)."""
    buffer = io.BytesIO()
    first.save(buffer, format="MPO", save_all=True, append_images=list(others))
    return buffer.getvalue()


def test_an_mpo_is_decoded_as_its_first_picture():
    data = _mpo(Image.new("RGB", (160, 120), (200, 30, 30)), Image.new("RGB", (40, 30), (30, 30, 200)))
    assert Image.open(io.BytesIO(data)).format == "MPO" and Image.open(io.BytesIO(data)).n_frames == 2
    image = decode_image(data)
    assert image.size == (160, 120)
    red, _, blue = image.getpixel((80, 60))
    assert red > 150 and blue < 80, "decoded the second picture, not the photo"


def test_an_mpo_keeps_its_exif_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.new("RGB", (160, 120), "red").save(
        buffer, format="MPO", save_all=True, append_images=[Image.new("RGB", (40, 30))], exif=exif
    )
    assert decode_image(buffer.getvalue()).size == (120, 160)


def test_the_pixel_cap_counts_a_jpeg_at_its_draft_size():
    photo = Image.effect_noise((2400, 1800), 40).convert("RGB")  # 4.3 MP
    limits = ImageLimits(max_pixels=1_000_000)
    image = decode_image(encode(photo, "JPEG"), limits, draft_px=600)  # decoded at 1/4: 600 x 450
    assert image.size == (600, 450)
    for data, draft_px in ((encode(photo, "JPEG"), None), (encode(photo, "PNG"), 600)):  # full size: over the cap
        with pytest.raises(ImageRejected, match="pixels") as info:
            decode_image(data, limits, draft_px=draft_px)
        assert info.value.status == 413


def test_the_default_caps_let_phone_photos_through_but_not_bombs():
    limits = ImageLimits()
    assert 5712 * 4284 <= limits.max_pixels < 40_000_000  # a 24-MP iPhone HEIC, decoded at full size
    assert limits.max_bytes == 10 * 1024 * 1024
