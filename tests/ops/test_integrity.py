"""Damage found from a file's structure: PNGs and JPEGs that hold part of their picture, PNG text too large."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from ops import integrity
from tests.odd_inputs import interlaced_png, jpeg_claiming, png_chunk, png_with_large_text, png_with_rows


def _png(img: Image.Image, **kwargs) -> io.BytesIO:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kwargs)
    buf.seek(0)
    return buf


def _jpeg(img: Image.Image, **kwargs) -> io.BytesIO:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kwargs)
    buf.seek(0)
    return buf


def _noise(h: int, w: int, mode: str = "RGB") -> Image.Image:
    arr = np.random.default_rng(0).integers(0, 256, (h, w, len(mode)), dtype=np.uint8)
    return Image.fromarray(arr[..., 0] if mode == "L" else arr, mode)


def test_a_png_with_fewer_rows_than_its_header_is_truncated():
    assert integrity.png_truncated(io.BytesIO(png_with_rows(300, 200, 3)))
    assert integrity.png_truncated(io.BytesIO(png_with_rows(300, 200, 199)))  # one row short
    assert not integrity.png_truncated(io.BytesIO(png_with_rows(300, 200, 200)))


@pytest.mark.parametrize(
    "img",
    [
        _noise(37, 53),
        _noise(37, 53, "RGBA"),
        _noise(37, 53, "L"),
        Image.new("1", (37, 53)),
        Image.new("I;16", (37, 53), 40000),
        Image.new("P", (9, 5)),
        Image.new("RGB", (1000, 1000)),  # black: a thousand times smaller than its rows
    ],
    ids=["rgb", "rgba", "gray", "1-bit", "16-bit", "palette", "black"],
)
def test_a_whole_png_is_whole(img):
    assert not integrity.png_truncated(_png(img))


@pytest.mark.parametrize("size", [(16, 16), (13, 7), (1, 1), (2, 9), (33, 1)])
def test_an_interlaced_png_is_whole_and_one_byte_short_truncated(size):
    w, h = size
    arr = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    data = interlaced_png(arr)
    with Image.open(io.BytesIO(data)) as im:  # Pillow reads it back as the picture it is
        assert im.info.get("interlace") and np.array_equal(np.asarray(im.convert("RGB")), arr)
    assert not integrity.png_truncated(io.BytesIO(data))
    idat = data.index(b"IDAT")
    full = zlib.decompress(data[idat + 4 : idat + 4 + int.from_bytes(data[idat - 4 : idat], "big")])
    short = data[: idat - 4] + png_chunk(b"IDAT", zlib.compress(full[:-1])) + png_chunk(b"IEND", b"")
    assert integrity.png_truncated(io.BytesIO(short))


def test_a_jpeg_with_the_data_of_a_smaller_picture_is_truncated():
    assert integrity.jpeg_truncated(io.BytesIO(jpeg_claiming(3000, 2000)))
    assert not integrity.jpeg_truncated(io.BytesIO(jpeg_claiming(160, 120)))


@pytest.mark.parametrize(
    ("img", "kwargs"),
    [
        (_noise(120, 160), {}),
        (_noise(120, 160), {"progressive": True}),
        (_noise(120, 160, "L"), {}),
        (Image.new("RGB", (4000, 3000), (128, 128, 128)), {"quality": 95}),  # flat: two bits a block
        (Image.new("RGB", (4000, 3000), (128, 128, 128)), {"progressive": True, "optimize": True}),
        (Image.new("CMYK", (400, 300), (0, 128, 255, 20)), {}),
        (_noise(120, 160), {"subsampling": 0}),
    ],
    ids=["baseline", "progressive", "gray", "flat", "flat-progressive", "cmyk", "4:4:4"],
)
def test_a_whole_jpeg_is_whole(img, kwargs):
    assert not integrity.jpeg_truncated(_jpeg(img, **kwargs))


def test_a_png_text_chunk_too_large_for_pillow_is_left_out_and_nothing_else():
    data = png_with_large_text()
    with pytest.raises(ValueError, match="MAX_TEXT_CHUNK"):
        Image.open(io.BytesIO(data))
    copy, dropped = integrity.without_large_text(io.BytesIO(data))
    assert dropped == 1 and len(copy) < len(data)
    with Image.open(io.BytesIO(copy)) as im:
        im.load()
        assert im.size == (32, 24) and "Comment" not in im.info
    small = _png(_noise(8, 8), pnginfo=_info("Title", "kept"))
    assert integrity.without_large_text(small) is None  # a file Pillow reads is read as it is


def test_text_after_the_pixels_and_international_text_are_left_out_too():
    big = zlib.compress(b"a" * (PngImagePlugin.MAX_TEXT_CHUNK + 10))
    itxt = png_chunk(b"iTXt", b"Description\x00\x01\x00en\x00\x00" + big)
    raw = _png(_noise(8, 8), pnginfo=_info("Title", "kept")).getvalue()
    data = raw[:-12] + itxt + raw[-12:]  # before IEND, after the pixels
    copy, dropped = integrity.without_large_text(io.BytesIO(data))
    assert dropped == 1
    with Image.open(io.BytesIO(copy)) as im:
        im.load()
        assert im.info.get("Title") == "kept" and "Description" not in im.info


def _info(key: str, value: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info
