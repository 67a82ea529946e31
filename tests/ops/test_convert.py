"""The image convention at the edges: alpha, 16-bit, grayscale, EXIF and ICC survive a round trip."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import ImageTooLargeError, InvalidInputError
from core.image import ImageData, from_numpy, to_numpy
from ops.convert import (
    animation_note,
    frame_count,
    from_pil,
    load_image,
    load_notes,
    png_bytes,
    probe_image,
    save_image,
    to_pil,
)
from tests import odd_inputs


def _rng_img(h=5, w=7, c=4, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    hi = 255 if dtype == np.uint8 else 65535
    return rng.integers(0, hi + 1, size=(h, w, c) if c else (h, w), dtype=dtype)


def test_rgba_png_round_trip_is_exact(tmp_path):
    arr = _rng_img()
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    data = load_image(tmp_path / "a.png")
    assert data.rgb.shape == (1, 3, 5, 7) and data.alpha is not None
    assert data.rgb.dtype == torch.float32 and float(data.rgb.max()) <= 1
    save_image(data, tmp_path / "b.png")
    back = np.asarray(Image.open(tmp_path / "b.png"))
    assert back.shape == arr.shape and np.array_equal(back, arr)


def test_16bit_colour_png_keeps_all_bits(tmp_path):
    import cv2

    arr = _rng_img(c=3, dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    data = load_image(tmp_path / "a.png")
    assert data.bit_depth == 16
    save_image(data, tmp_path / "b.png")
    back = cv2.cvtColor(cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    assert back.dtype == np.uint16 and np.array_equal(back, arr)


def test_16bit_gray_png_round_trip(tmp_path):
    arr = _rng_img(c=0, dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "g.png")
    data = load_image(tmp_path / "g.png")
    assert data.grayscale and data.bit_depth == 16
    assert np.array_equal(to_numpy(data)[..., 0], arr)


def test_16bit_gray_alpha_png_stays_gray_alpha(tmp_path):
    """16-bit gray + alpha (PNG colour type 4) is written as such, not widened to RGBA, and read back as
    gray: every bit of both channels survives, decoded by OpenCV as well as by our loader."""
    import cv2

    h, w = 40, 23
    arr = _rng_img(h, w, c=2, dtype=np.uint16, seed=3)
    arr[: h // 2, :, 0] = np.arange(w, dtype=np.uint16) * 2000  # smooth rows pick other filters than noise
    arr[5:9, :, 1] = 65535
    gray = torch.from_numpy(arr[..., 0] / 65535.0).float()[None, None]
    alpha = torch.from_numpy(arr[..., 1] / 65535.0).float()[None, None]
    data = ImageData(gray.expand(1, 3, -1, -1).contiguous(), alpha, bit_depth=16, grayscale=True)
    path = save_image(data, tmp_path / "ga.png")
    head = path.read_bytes()[:26]
    assert (head[24], head[25]) == (16, 4)  # 16 bits, gray + alpha
    decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # OpenCV widens gray+alpha to BGRA
    assert decoded.dtype == np.uint16
    assert np.array_equal(decoded[..., 0], arr[..., 0]) and np.array_equal(decoded[..., 3], arr[..., 1])
    back = load_image(path)
    assert back.grayscale and back.bit_depth == 16 and back.alpha is not None
    assert np.array_equal(to_numpy(back), arr)
    save_image(back, tmp_path / "again.png")
    assert (tmp_path / "again.png").read_bytes() == path.read_bytes()


def test_exif_orientation_applied_and_exif_kept(tmp_path):
    arr = np.zeros((2, 3, 3), np.uint8)
    arr[0, 0] = 255  # a red pixel at the top-left of the stored image
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    exif[0x010F] = "GanvasCam"
    img.save(tmp_path / "o.jpg", exif=exif.tobytes(), quality=100)
    data = load_image(tmp_path / "o.jpg")
    assert data.size == (2, 3)  # width and height swapped
    assert data.rgb[0, 0, 0, -1] > 0.8  # red pixel now at the top-right
    save_image(data, tmp_path / "o.png")
    out_exif = Image.open(tmp_path / "o.png").getexif()
    assert out_exif.get(0x010F) == "GanvasCam" and out_exif.get(0x0112, 1) == 1


def test_icc_profile_travels(tmp_path):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(tmp_path / "i.png", icc_profile=icc)
    data = load_image(tmp_path / "i.png")
    assert data.icc_profile == icc
    save_image(data, tmp_path / "j.png")
    assert Image.open(tmp_path / "j.png").info.get("icc_profile") == icc


def _srgb_profile(space: bytes = b"RGB ") -> bytes:
    """littlecms' sRGB profile, its colour-space field set to ``space`` (littlecms makes no GRAY or CMYK ones)."""
    from PIL import ImageCms

    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    icc[16:20] = space
    return bytes(icc)


def test_a_profile_is_written_only_into_a_file_it_describes(tmp_path):
    """A grayscale photo painted in colour is an RGB file: its GRAY profile would be invalid there (libpng warns);
    while it stays gray the profile goes with it, at 8 and 16 bits."""
    gray_icc = _srgb_profile(b"GRAY")
    g = torch.full((1, 3, 4, 4), 0.5)
    for depth in (8, 16):
        gray = ImageData(g, None, depth, True, None, gray_icc)
        save_image(gray, tmp_path / f"g{depth}.png")
        assert Image.open(tmp_path / f"g{depth}.png").info.get("icc_profile") == gray_icc
        painted = ImageData(g, None, depth, False, None, gray_icc)
        save_image(painted, tmp_path / f"c{depth}.png")
        assert "icc_profile" not in Image.open(tmp_path / f"c{depth}.png").info
    assert "icc_profile" not in to_pil(ImageData(g, None, 8, False, None, gray_icc)).info


def test_cmyk_keeps_no_cmyk_profile_in_its_rgb_pixels(tmp_path):
    cmyk_icc = _srgb_profile(b"CMYK")
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg", icc_profile=cmyk_icc)
    data = load_image(tmp_path / "c.jpg")
    assert data.icc_profile is None and not data.grayscale
    assert data.rgb[0, :, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=0.1)  # 100% magenta + yellow


def test_16bit_colour_tiff_keeps_its_16_bits(tmp_path):
    import cv2

    arr = _rng_img(c=3, dtype=np.uint16, seed=4)
    assert cv2.imwrite(str(tmp_path / "t.tif"), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    data = load_image(tmp_path / "t.tif")
    assert data.bit_depth == 16 and not data.grayscale
    assert np.array_equal(to_numpy(data), arr)


def test_jpeg_takes_an_alpha_channel_with_nothing_transparent(tmp_path):
    """A content-aware fill of new margins leaves an alpha channel that is opaque everywhere: nothing to lose."""
    rgb = torch.rand(1, 3, 4, 4)
    save_image(ImageData(rgb, torch.ones(1, 1, 4, 4)), tmp_path / "o.jpg")
    assert Image.open(tmp_path / "o.jpg").mode == "RGB"
    alpha = torch.ones(1, 1, 4, 4)
    alpha[..., 0, 0] = 0.5
    with pytest.raises(InvalidInputError, match="cannot hold transparency"):
        save_image(ImageData(rgb, alpha), tmp_path / "t.jpg")


def test_an_output_path_under_a_file_is_refused_before_any_work(tmp_path):
    from ops.convert import check_can_save

    (tmp_path / "photo.png").write_bytes(b"x")
    for out in (tmp_path / "photo.png" / "x.png", tmp_path / "photo.png" / "a" / "b.png"):
        with pytest.raises(InvalidInputError, match="photo.png is a file, not a folder"):
            check_can_save(out, has_alpha=False)
    check_can_save(tmp_path / "new" / "deeper" / "x.png", has_alpha=False)  # folders to be made are fine


def test_palette_with_transparency_becomes_rgba(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((1, 1), 1)
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    data = load_image(tmp_path / "p.png")
    assert data.alpha is not None and float(data.alpha[0, 0, 0, 0]) == 0 and float(data.alpha[0, 0, 1, 1]) == 1


def test_grayscale_flag_and_la(tmp_path):
    Image.fromarray(_rng_img(c=2), "LA").save(tmp_path / "la.png")
    data = load_image(tmp_path / "la.png")
    assert data.grayscale and data.alpha is not None
    assert torch.equal(data.rgb[:, 0], data.rgb[:, 1])
    assert to_pil(data).mode == "LA"


def test_16bit_png_bytes_carry_exif_chunk():
    data = ImageData(rgb=torch.rand(1, 3, 4, 4), bit_depth=16, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00")
    raw = png_bytes(data)
    assert b"eXIf" in raw and raw.index(b"eXIf") < raw.index(b"IDAT")


def test_bad_inputs_raise_typed_errors(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InvalidInputError):
        load_image(tmp_path / "bad.png")
    with pytest.raises(InvalidInputError):
        load_image(tmp_path / "missing.png")
    Image.new("RGB", (100, 100)).save(tmp_path / "big.png")
    with pytest.raises(ImageTooLargeError):
        load_image(tmp_path / "big.png", max_pixels=5000)
    with pytest.raises(InvalidInputError):
        from_numpy(np.zeros((4, 4, 5), np.uint8))


def test_jpeg_refuses_alpha(tmp_path):
    data = from_numpy(_rng_img())
    with pytest.raises(InvalidInputError, match="transparency"):
        save_image(data, tmp_path / "x.jpg")


@pytest.mark.parametrize(
    ("arr", "name", "match"),
    [
        (_rng_img(), "x.bmp", "BMP cannot hold transparency"),
        (_rng_img(), "x.jpeg", "JPEG cannot hold transparency"),
        (_rng_img(c=3), "x.gif", "256 colours"),
        (_rng_img(c=3, dtype=np.uint16), "x.tif", "save as PNG to keep the 16 bits"),
        (_rng_img(c=3, dtype=np.uint16), "x.webp", "save as PNG to keep the 16 bits"),
    ],
)
def test_file_types_that_would_lose_alpha_depth_or_colours_are_refused(tmp_path, arr, name, match):
    with pytest.raises(InvalidInputError, match=match):
        save_image(from_numpy(arr), tmp_path / name)
    assert not (tmp_path / name).exists()


def test_tiff_layout_tags_are_not_carried_as_photo_metadata(tmp_path):
    img = Image.fromarray(_rng_img(h=8, w=8, c=3))
    exif = Image.Exif()
    exif[0x010F] = "GanvasCam"
    exif[0x8769] = {0x9003: "2020:01:02 03:04:05"}
    img.save(tmp_path / "a.tif", exif=exif.tobytes())
    data = load_image(tmp_path / "a.tif")
    big = ImageData(torch.nn.functional.interpolate(data.rgb, scale_factor=2), exif=data.exif)
    for name in ("b.tif", "b.png"):  # a TIFF with the source's width/strips in its EXIF fails to write
        save_image(big, tmp_path / name)
        with Image.open(tmp_path / name) as back:
            assert back.size == (16, 16)
            got = back.getexif()
            assert got[0x010F] == "GanvasCam" and got.get_ifd(0x8769)[0x9003] == "2020:01:02 03:04:05"
            if name.endswith(".png"):
                assert 256 not in got and 273 not in got  # no image width / strip offsets of the 8x8 file


_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'


@pytest.mark.parametrize("out", ["o.jpg", "o.png", "o16.png", "o.webp", "o.tif"])
def test_print_resolution_and_xmp_travel(tmp_path, out):
    """A photo's DPI (how large it prints) and its XMP packet (captions, ratings, rights) come out in the file
    written, where the format has a place for them: WebP has none for DPI, TIFF's XMP is not written."""
    Image.new("RGB", (6, 4), (200, 30, 30)).save(tmp_path / "in.jpg", dpi=(300, 240), xmp=_XMP)
    data = load_image(tmp_path / "in.jpg")
    assert data.dpi == (300, 240) and data.xmp == _XMP
    if out == "o16.png":
        data = ImageData(data.rgb, None, 16, False, dpi=data.dpi, xmp=data.xmp)
    save_image(data, tmp_path / out)
    back = Image.open(tmp_path / out)
    if not out.endswith(".webp"):
        assert back.info.get("dpi") == pytest.approx((300, 240), abs=0.01)
    if not out.endswith(".tif"):
        xmp = back.info.get("xmp")
        assert (xmp.encode() if isinstance(xmp, str) else xmp) == _XMP
    again = load_image(tmp_path / out)
    assert again.bit_depth == (16 if out == "o16.png" else 8)
    assert out.endswith(".tif") or again.xmp == _XMP


def test_exif_entries_that_cannot_be_written_are_dropped_not_fatal(tmp_path):
    """A resolution stored as text (Pillow's broken_exif_dpi.jpg) made the EXIF block unwritable: a traceback."""
    from ops.convert import _writable_exif

    exif = Image.Exif()
    exif[0x010F] = "Maker"
    exif[0x011A] = "seventy"  # XResolution must be a rational
    kept = Image.Exif()
    kept.load(_writable_exif(exif))
    assert dict(kept) == {0x010F: "Maker"}


def test_an_absurd_print_resolution_is_dropped(tmp_path):
    """Pillow's exif_gps.jpg claims 4294967295 dpi: writing it as PNG overflowed struct.pack."""
    src = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(src, dpi=(300, 300))
    img = Image.open(src)
    img.info["dpi"] = (4294967295.0, 4294967295.0)
    data = from_pil(img)
    assert data.dpi is None
    save_image(data, tmp_path / "b.png")
    assert load_image(tmp_path / "b.png").size == (8, 8)


# ------------------------------------------------------------------------------- damaged and odd files


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "size"),
    [
        ("rows.png", lambda: odd_inputs.png_with_rows(5000, 5000, 3), "5000x5000"),
        ("blocks.jpg", lambda: odd_inputs.jpeg_claiming(4000, 3000), "4000x3000"),
        ("deep.png", lambda: _deep_png_with_rows(300, 200, 3), "300x200"),
    ],
)
def test_a_file_that_holds_part_of_its_picture_is_refused_as_truncated(tmp_path, name, data, size):
    """Pillow decodes these without a word (the PNG's missing rows black, the JPEG's missing blocks grey; a
    viewer says the file is truncated): refused, in our words."""
    path = _write(tmp_path / name, data())
    with pytest.raises(InvalidInputError) as err:
        load_image(path)
    text = str(err.value)
    assert text.startswith(f"{name} is truncated: it holds only part of the {size} picture") and "Error" not in text


def _deep_png_with_rows(width: int, height: int, rows: int) -> bytes:
    """A 16-bit RGB PNG (read by OpenCV, not Pillow) whose data holds ``rows`` rows."""
    import struct
    import zlib

    raw = b"".join(b"\x00" + bytes(range(256)) * (width * 6 // 256) + bytes(width * 6 % 256) for _ in range(rows))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    chunk = odd_inputs.png_chunk
    return odd_inputs.PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_whole_files_whose_last_row_is_empty_load(tmp_path):
    """The PNG check reads the file again only where the last row is 0 throughout (or the file is interlaced):
    black, transparent and interlaced files that are whole load as they are."""
    Image.new("RGB", (900, 700)).save(tmp_path / "black.png")
    Image.new("RGBA", (64, 48)).save(tmp_path / "clear.png")
    arr = np.random.default_rng(2).integers(0, 256, (21, 17, 3), dtype=np.uint8)
    _write(tmp_path / "interlaced.png", odd_inputs.interlaced_png(arr))
    Image.new("RGB", (900, 700), (128, 128, 128)).save(tmp_path / "grey.jpg")
    assert load_image(tmp_path / "black.png").size == (900, 700)
    assert load_image(tmp_path / "clear.png").alpha is not None
    assert np.array_equal(to_numpy(load_image(tmp_path / "interlaced.png")), arr)
    assert load_image(tmp_path / "grey.jpg").size == (900, 700)


def test_a_png_with_a_text_chunk_too_large_for_pillow_is_read_without_it(tmp_path):
    """It was refused as 'not an image Ganvas can read' (Pillow: 'Decompressed data too large for
    PngImagePlugin.MAX_TEXT_CHUNK'): the picture is read, the text left behind."""
    path = _write(tmp_path / "notes.png", odd_inputs.png_with_large_text())
    assert probe_image(path) == (32, 24)
    data = load_image(path)
    assert np.array_equal(to_numpy(data), odd_inputs.photo_array(24, 32))


def test_metadata_left_out_is_said_in_a_note(tmp_path):
    """Large PNG text and damaged EXIF entries were dropped with only a line in the server log."""
    text = _write(tmp_path / "notes.png", odd_inputs.png_with_large_text())
    assert load_notes(text) == ["notes.png: 1 text chunk(s) too large to read were left out; the picture is whole."]
    exif = _write(tmp_path / "dpi.jpg", odd_inputs.jpeg_with_text_resolution())
    assert load_notes(exif) == ["dpi.jpg: EXIF entries too damaged to write back were left out; the picture is whole."]
    kept = Image.Exif()
    kept.load(load_image(exif).exif)
    assert dict(kept) == {0x010F: "Mak"}  # what could be written back was
    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (8, 8)).save(plain, exif=Image.Exif().tobytes())
    assert load_notes(plain) == [] and load_notes(tmp_path / "missing.png") == []


def test_a_jpeg_cut_short_and_closed_gets_a_note(tmp_path):
    """A JPEG cut at half its data and closed with an end marker decoded to a picture whose lower part is flat
    grey, with no word: the size check (a lower bound) lets such a file through when enough data is left."""
    buf = io.BytesIO()
    Image.fromarray(np.kron(odd_inputs.photo_array(48, 64), np.ones((4, 4, 1), np.uint8))).save(buf, "JPEG")
    whole = buf.getvalue()
    cut = _write(tmp_path / "cut.jpg", whole[: len(whole) // 2] + b"\xff\xd9")
    assert load_image(cut).size == (256, 192)
    [note] = load_notes(cut)
    rows = int(note.split("its last ")[1].split()[0])
    assert note.startswith("cut.jpg may be truncated") and 16 <= rows < 192
    assert load_notes(_write(tmp_path / "whole.jpg", whole)) == []
    progressive = io.BytesIO()
    Image.open(io.BytesIO(whole)).save(progressive, "JPEG", progressive=True)
    data = progressive.getvalue()
    assert load_notes(_write(tmp_path / "p.jpg", data[: len(data) // 2] + b"\xff\xd9")) == []  # blurred, not grey


def test_a_gif_frame_that_grows_the_picture_is_judged_at_the_size_it_grows_to(tmp_path):
    """Pillow's decompression_bomb_extents.gif: a 2-frame GIF whose second frame claims 65535x65535 passed the
    header check (its screen is small), and counting or upscaling its frames took 24 GB before anything said no."""
    path = _write(tmp_path / "bomb.gif", odd_inputs.gif_with_bomb_extents())
    with pytest.raises(ImageTooLargeError, match="60000x60000"):
        probe_image(path)
    assert frame_count(path) == 1 and animation_note(path) is None  # refused: counted as no animation
    fine = _write(tmp_path / "fine.gif", odd_inputs.gif_with_bomb_extents(16))
    assert probe_image(fine) == (16, 16) and frame_count(fine) == 2


def test_formats_outside_the_list_are_refused_before_decoding(tmp_path):
    """A fuzzed ICNS file in Pillow's tests made its decoder allocate 15.8 GB: Ganvas opens only the formats
    it names, and says which."""
    Image.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "icon.icns")
    with pytest.raises(InvalidInputError, match=r"not an image Ganvas can read \(PNG, JPEG, WebP, GIF, BMP, TIFF"):
        probe_image(tmp_path / "icon.icns")
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "ICO", "PPM", "TGA"):
        Image.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "x.img", fmt)
        assert probe_image(tmp_path / "x.img") == (32, 32), fmt


def test_counting_frames_checks_the_pixel_limit_first(tmp_path, monkeypatch):
    """Counting frames opened the file with Pillow's own limit still set (in a process that had opened no image
    yet), and a 100 MP file raised a DecompressionBombWarning before the working limit refused it."""
    path = _write(tmp_path / "bomb.png", odd_inputs.gray_png_bomb(10_000, 10_000))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)  # Pillow's default, as at start-up
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert animation_note(path) is None and frame_count(path) == 1
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    with pytest.raises(ImageTooLargeError, match="10000x10000"):
        load_image(path)


def test_a_name_the_system_refuses_is_said_in_words(tmp_path):
    with pytest.raises(InvalidInputError) as err:
        load_image(tmp_path / ("x" * 5000 + ".png"))
    text = str(err.value)
    assert "file name too long" in text and "Errno" not in text and len(text) < 300
