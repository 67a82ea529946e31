"""Odd inputs a hostile or unlucky user sends, generated into a folder: files that are broken or disguised,
images at the edges of what the formats allow, hostile recipes and editor values, and numbers that are not
numbers. The bad-input suite (tests/test_bad_inputs.py) runs every endpoint and CLI command on them; unit
tests build single cases with the same functions."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_rows(width: int, height: int, rows: int, value: int = 128) -> bytes:
    """An 8-bit RGB PNG whose header says ``width`` x ``height`` and whose complete zlib stream holds ``rows``
    rows: a valid file in every chunk, with most of its picture missing."""
    raw = zlib.compressobj(9)
    row = b"\x00" + bytes([value]) * (width * 3)
    data = b"".join(raw.compress(row) for _ in range(rows)) + raw.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def interlaced_png(arr: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of ``arr`` (HxWx3 uint8), interlaced (Adam7), written here: Pillow writes none."""
    h, w = arr.shape[:2]
    raw = b""
    for x0, y0, dx, dy in (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ):
        part = arr[y0::dy, x0::dx]
        if part.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in part)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")


def gray_png_bomb(width: int, height: int) -> bytes:
    """A black 8-bit gray PNG of ``width`` x ``height`` in a small file (zeros compress about 1000:1)."""
    raw = zlib.compressobj(9)
    row = bytes(width + 1)
    parts = [raw.compress(row) for _ in range(height)]
    data = b"".join(parts) + raw.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int, data_size: tuple[int, int] = (160, 120), seed: int = 0) -> bytes:
    """A JPEG of ``data_size`` pixels whose frame header says ``width`` x ``height``: complete to its end marker,
    with the data of a small picture only."""
    rng = np.random.default_rng(seed)
    w, h = data_size
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def png_with_large_text(size: int = 20_000_000) -> bytes:
    """A valid 32x24 PNG with a compressed text chunk (zTXt) that inflates to ``size`` bytes, past Pillow's
    limit for one text chunk (PngImagePlugin.MAX_TEXT_CHUNK, 1 MB)."""
    buf = io.BytesIO()
    Image.fromarray(photo_array(24, 32)).save(buf, "PNG")
    png = buf.getvalue()
    text = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"a" * size, 9))
    return png[:33] + text + png[33:]  # after IHDR (8 + 25 bytes)


def jpeg_with_text_resolution() -> bytes:
    """A 16x16 JPEG whose EXIF gives XResolution as text (as Pillow's broken_exif_dpi.jpg does): readable, but
    not writable back as it stands, since the tag must be a rational."""
    text = b"seventy\x00"
    entries = [(0x010F, 2, 4, b"Mak\x00"), (0x011A, 2, len(text), struct.pack("<I", 8 + 2 + 2 * 12 + 4))]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHI", *e[:3]) + e[3] for e in entries)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + text
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(buf, "JPEG", exif=b"Exif\x00\x00" + tiff)
    return buf.getvalue()


def gif_with_bomb_extents(side: int = 60_000) -> bytes:
    """A 2-frame 16x16 GIF whose second frame claims to be ``side`` x ``side`` pixels (as Pillow's
    decompression_bomb_extents.gif does): reaching that frame grows the picture to it."""
    frames = [Image.new("RGB", (16, 16), c).convert("P") for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], disposal=2, duration=100)
    data = bytearray(buf.getvalue())
    pos, seen = 13 + ((3 << ((data[10] & 7) + 1)) if data[10] & 0x80 else 0), 0
    while data[pos] in (0x21, 0x2C):  # walk the blocks to the second frame's descriptor
        if data[pos] == 0x2C:
            seen += 1
            if seen == 2:
                struct.pack_into("<HH", data, pos + 5, side, side)
                break
            flags = data[pos + 9]
            pos += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0) + 1
        else:
            pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return bytes(data)


def photo_array(h: int = 48, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)


def _save(img: Image.Image, path: Path, **kwargs) -> None:
    img.save(path, **kwargs)


def odd_files(folder: Path) -> dict[str, Path]:
    """Write the corpus of odd image files into ``folder``; returns {case name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        path = folder / name
        path.write_bytes(data)
        files[name] = path

    def image(name: str, img: Image.Image, **kwargs) -> None:
        path = folder / name
        img.save(path, **kwargs)
        files[name] = path

    photo = Image.fromarray(photo_array())
    buf = io.BytesIO()
    photo.save(buf, "PNG")
    png = buf.getvalue()
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()

    # broken and disguised
    put("empty.png", b"")
    put("text.png", b"this is not a picture\n" * 20)
    put("script.png", b"<html><script>alert(1)</script></html>")
    put("noise.jpg", np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    put("png-named.jpg", png)
    put("truncated.png", png[: len(png) * 2 // 3])
    put("truncated.jpg", jpeg[: len(jpeg) * 2 // 3])
    put("header-only.png", png[:33])
    put("short-rows.png", png_with_rows(3000, 3000, 3))
    put("short-data.jpg", jpeg_claiming(3000, 2000))
    put(
        "image.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"><rect width="64" height="48"/></svg>',
    )
    put("large-ztxt.png", png_with_large_text())
    # the edges of the formats
    image("one-pixel.png", Image.new("RGB", (1, 1), (200, 10, 10)))
    image("wide.png", Image.fromarray(np.tile(photo_array(2, 64), (1, 125, 1))))  # 8000x2
    image("tall.png", Image.new("L", (2, 4000), 90))
    image("cmyk.jpg", Image.new("CMYK", (40, 30), (0, 128, 255, 20)))
    deep = (np.mgrid[0:30, 0:40][1] * 1500).astype(np.uint16)
    image("gray16.png", Image.fromarray(deep))
    image("palette-transparent.png", _palette_with_transparency())
    image("la.png", Image.new("LA", (40, 30), (120, 100)))
    image("transparent.png", Image.new("RGBA", (40, 30), (0, 0, 0, 0)))
    image("float.tif", Image.fromarray(np.linspace(0, 1, 1200, dtype=np.float32).reshape(30, 40), "F"))
    exif = Image.Exif()
    exif[0x0112] = 6
    image("rotated.jpg", photo, exif=exif.tobytes(), quality=90)
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    image("animated.gif", frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0)
    image("animated.webp", frames[0], save_all=True, append_images=frames[1:], duration=100, lossless=True)
    image("animated.png", frames[0], save_all=True, append_images=frames[1:], duration=100)
    image("pages.tif", frames[0], save_all=True, append_images=frames[1:])
    # decompression bombs: a small file, a picture past the working limit
    put("bomb.png", gray_png_bomb(10_000, 10_000))
    put("bomb-header.png", png_with_rows(100_000, 100_000, 1))
    put("bomb-frame.gif", gif_with_bomb_extents())
    return files


def _palette_with_transparency() -> Image.Image:
    img = Image.fromarray(photo_array(30, 40)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    img.info["transparency"] = 0
    return img


def write_16bit_colour(path: Path) -> Path:
    """A 16-bit RGB PNG (Pillow reads it as 8-bit; Ganvas keeps the 16 bits)."""
    import cv2

    arr = (np.mgrid[0:30, 0:40][1][..., None] * np.array([1500, 700, 300])).astype(np.uint16)
    cv2.imwrite(str(path), arr)
    return path


#: recipes for /edit and ``cli.py edit``: text that is no recipe, hostile values, steps that grow the picture
HOSTILE_RECIPES: dict[str, str] = {
    "empty": "",
    "blank": "   \n",
    "null": "null",
    "list": "[]",
    "object": "{}",
    "not-json": "rotate 90 please",
    "nested": "[" * 100_000 + "]" * 100_000,
    "long-number": '{"version": 1, "steps": [{"op": "rotate", "angle": ' + "9" * 5000 + "}]}",
    "nan": '{"version": 1, "steps": [{"op": "rotate", "angle": NaN}]}',
    "infinity": '{"version": 1, "steps": [{"op": "rotate", "angle": Infinity}]}',
    "big-float": '{"version": 1, "steps": [{"op": "rotate", "angle": 1e400}]}',
    "version-text": '{"version": "1", "steps": []}',
    "extra-key": '{"version": 1, "steps": [], "run": "rm -rf /"}',
    "long-op": json.dumps({"version": 1, "steps": [{"op": "x" * 1_000_000}]}),
    "step-text": '{"version": 1, "steps": ["rotate"]}',
    "rotate-16": json.dumps({"version": 1, "steps": [{"op": "rotate", "angle": 45, "expand": True}] * 16}),
    "pad-huge": json.dumps({"version": 1, "steps": [{"op": "pad", "left": 10**9}]}),
    "resize-line": json.dumps({"version": 1, "steps": [{"op": "resize", "width": 1, "height": 100_000_000}]}),
    "resize-zero": json.dumps({"version": 1, "steps": [{"op": "resize", "width": 0, "height": 10}]}),
    "crop-outside": json.dumps(
        {"version": 1, "steps": [{"op": "crop", "left": -500, "top": 0, "width": 5, "height": 5}]}
    ),
    "colour-text": json.dumps({"version": 1, "steps": [{"op": "pad", "left": 2, "fill": "#zzz"}]}),
    "gamma-zero": json.dumps({"version": 1, "steps": [{"op": "adjust", "gamma": 0}]}),
    "blur-huge": json.dumps({"version": 1, "steps": [{"op": "adjust", "blur": 1e9}]}),
    "mask-text": json.dumps({"version": 1, "steps": [{"op": "erase", "mask_png": "bm90IGEgcG5n"}]}),
    "mask-not-base64": json.dumps({"version": 1, "steps": [{"op": "erase", "mask_png": "%%%"}]}),
    "backdrop-missing": json.dumps({"version": 1, "steps": [{"op": "remove_background", "backdrop": "image"}]}),
    "backdrop-sky": json.dumps({"version": 1, "steps": [{"op": "remove_background", "backdrop": "sky"}]}),
    "backdrop-blur-nan": '{"version": 1, "steps": [{"op": "remove_background", "backdrop": "blur", "blur": NaN}]}',
    "cut-box-outside": json.dumps({"version": 1, "steps": [{"op": "remove_background", "box": [9999, 9999, 5, 5]}]}),
    "filter-unknown": json.dumps({"version": 1, "steps": [{"op": "gan_filter", "model": "sepia"}]}),
    "filter-of-upscale": json.dumps({"version": 1, "steps": [{"op": "gan_filter", "model": "bicubic"}]}),
}


def mask_recipes() -> dict[str, str]:
    """Recipes whose region mask is a PNG that is damaged, of another size, or a bomb."""
    import base64

    def step(png: bytes) -> str:
        return json.dumps({"version": 1, "steps": [{"op": "erase", "mask_png": base64.b64encode(png).decode()}]})

    buf = io.BytesIO()
    Image.new("L", (7, 5), 255).save(buf, "PNG")
    small = buf.getvalue()
    return {
        "mask-other-size": step(small),
        "mask-truncated": step(small[: len(small) // 2]),
        "mask-bomb": step(gray_png_bomb(10_000, 10_000)),
        "mask-short-rows": step(png_with_rows(3000, 3000, 2)),
        # the picture behind a cut-out subject, carried in the recipe like a mask
        "backdrop-bomb": json.dumps(
            {
                "version": 1,
                "steps": [
                    {
                        "op": "remove_background",
                        "backdrop": "image",
                        "image_png": base64.b64encode(gray_png_bomb(10_000, 10_000)).decode(),
                    }
                ],
            }
        ),
    }


#: values of a number field that are no number in its range, as the HTTP API can send them
ODD_NUMBERS: tuple = (float("nan"), float("inf"), float("-inf"), "abc", "", None, 1e308, -1e308, 2**64, True, "1e999")
