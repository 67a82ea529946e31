"""Animations upscaled frame by frame: kind, frame durations, loop, pixels, transparency and the limits; and the
file type of a batch's outputs (ops.formats)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import ImageTooLargeError, InvalidInputError
from core.image import ImageData
from models.catalog import get_spec
from models.loaders import load_model
from ops import animation
from ops.animation import check_animation, estimate_text, probe_animation, upscale_animation
from ops.formats import fit_for, format_note, output_suffix

CPU = torch.device("cpu")
DURATIONS = [100, 200, 300]
KINDS = {"gif": "GIF", "webp": "WEBP", "png": "PNG"}


@pytest.fixture(scope="module")
def nearest():
    return load_model(get_spec("nearest"), CPU, torch.float32)


def _frames(transparent: bool = False) -> list[np.ndarray]:
    """Three different 6x8 RGBA frames of 16 colours each (a GIF holds them exactly)."""
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    frames = []
    for i in range(3):
        rgb = palette[rng.integers(0, 16, (6, 8))]
        alpha = np.full((6, 8, 1), 255, np.uint8)
        if transparent:
            alpha[: i + 1, :3] = 0
        frames.append(np.concatenate([rgb, alpha], axis=2))
    return frames


def write(path: Path, frames: list[np.ndarray], loop: int | None = 2) -> Path:
    """``frames`` as the animation ``path`` names (by suffix), with DURATIONS and ``loop``."""
    kind = KINDS[path.suffix[1:]]
    opaque = all((f[..., 3] == 255).all() for f in frames)
    images = [Image.fromarray(f[..., :3] if opaque else f) for f in frames]
    extra = {"lossless": True} if kind == "WEBP" else {}
    if kind == "GIF":
        images = [animation._gif_frame(f) for f in frames]
        extra = {"disposal": 2}
    if loop is not None:
        extra["loop"] = loop
    images[0].save(path, format=kind, save_all=True, append_images=images[1:], duration=DURATIONS, **extra)
    return path


def read(path: Path) -> tuple[list[np.ndarray], list[float], int | None, str]:
    """(RGBA frames, durations, loop, format) as a reader sees them."""
    frames, durations = [], []
    with Image.open(path) as img:
        for i in range(img.n_frames):
            img.seek(i)
            img.load()
            durations.append(float(img.info.get("duration", 0)))
            frames.append(np.asarray(img.convert("RGBA")))
        return frames, durations, img.info.get("loop"), img.format


def same_picture(a: np.ndarray, b: np.ndarray) -> bool:
    """Two RGBA arrays show the same picture: the same alpha, and the same colour wherever it is not 0."""
    shown = b[..., 3] > 0
    return np.array_equal(a[..., 3], b[..., 3]) and np.array_equal(a[shown][:, :3], b[shown][:, :3])


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
@pytest.mark.parametrize("transparent", [False, True])
def test_each_frame_is_upscaled_with_its_duration_and_the_loop(tmp_path, nearest, suffix, transparent):
    source = _frames(transparent)
    src = write(tmp_path / f"anim{suffix}", source)
    done = upscale_animation(src, nearest, 2, tmp_path / f"out{suffix}")
    frames, durations, loop, fmt = read(done.path)
    assert fmt == KINDS[suffix[1:]] and done.frames == 3 and done.size == (16, 12)
    assert durations == DURATIONS and loop == 2
    for got, want in zip(frames, source, strict=True):
        assert same_picture(got, want.repeat(2, 0).repeat(2, 1))


def test_a_gif_that_plays_once_still_plays_once_and_says_so_in_webp(tmp_path, nearest):
    src = write(tmp_path / "once.gif", _frames(), loop=None)
    assert read(upscale_animation(src, nearest, 2, tmp_path / "o.gif").path)[2] is None
    assert read(upscale_animation(src, nearest, 2, tmp_path / "o.webp").path)[2] == 1


def test_a_gif_of_more_colours_than_a_palette_gets_the_nearest_of_255(tmp_path, nearest):
    rng = np.random.default_rng(0)
    frames = [
        np.concatenate([rng.integers(0, 256, (20, 20, 3), dtype=np.uint8), np.full((20, 20, 1), 255, np.uint8)], 2)
    ]
    frames.append(255 - frames[0])
    frames[1][..., 3] = 255
    src = write(tmp_path / "many.webp", frames)
    got = read(upscale_animation(src, nearest, 1, tmp_path / "o.gif").path)[0]
    for g, want in zip(got, frames, strict=True):
        assert len(np.unique(g.reshape(-1, 4), axis=0)) <= 255
        assert np.abs(g.astype(int) - want.astype(int)).mean() < 12


def test_the_estimate_comes_after_the_first_frame_with_the_frame_count(tmp_path, nearest):
    src = write(tmp_path / "anim.gif", _frames())
    said: list[str] = []
    upscale_animation(src, nearest, 2, tmp_path / "o.gif", on_estimate=said.append)
    assert len(said) == 1 and said[0].startswith("anim.gif: 3 frames, about ") and said[0].endswith(" s")
    anim = probe_animation(src)
    assert estimate_text(anim, 40) == "anim.gif: 3 frames, about 2 min"
    assert estimate_text(anim, 3000) == "anim.gif: 3 frames, about 2.5 h"


def test_limits_are_checked_from_the_header(tmp_path, monkeypatch):
    src = write(tmp_path / "anim.gif", _frames())
    anim = probe_animation(src)
    assert (anim.frames, anim.size, anim.loop, anim.kind) == (3, (8, 6), 2, "GIF")
    assert check_animation(anim, 2) == (16, 12)
    monkeypatch.setattr(animation, "MAX_FRAMES", 2)
    with pytest.raises(ImageTooLargeError, match="has 3 frames; Ganvas upscales animations of up to 2 frames"):
        check_animation(anim, 2)
    monkeypatch.setattr(animation, "MAX_FRAMES", 1000)
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "100")  # 4 x 100 pixels in all; 3 frames of 16x12 are 576
    with pytest.raises(
        ImageTooLargeError,
        match="3 frames of 16x12 make 0.000576 MP in all; Ganvas makes animations of up to 0.0004 MP",
    ):
        check_animation(anim, 2)
    with pytest.raises(InvalidInputError, match="between 1 and 8"):
        check_animation(anim, float("nan"))


def test_a_still_picture_or_a_tiff_of_pages_is_no_animation(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "still.gif")
    pages = [Image.new("RGB", (4, 4), (i * 50, 0, 0)) for i in range(3)]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    assert probe_animation(tmp_path / "still.gif") is None and probe_animation(tmp_path / "pages.tif") is None


def test_an_animation_is_written_only_as_an_animated_kind(tmp_path, nearest):
    src = write(tmp_path / "anim.gif", _frames())
    with pytest.raises(InvalidInputError, match="end o.jpg in .gif, .webp or .png"):
        upscale_animation(src, nearest, 2, tmp_path / "o.jpg")


# ------------------------------------------------------------------------------------- batch formats


def test_output_suffix_keeps_or_names_the_type():
    assert output_suffix("a/b.JPG", "keep") == ".JPG" and output_suffix("b.jpg", None) == ".png"
    assert output_suffix("b.jpg", "webp") == ".webp" and output_suffix("b.png", "jpg") == ".jpg"
    assert output_suffix("still.gif", "keep") == ".png" and "256 colours" in format_note("still.gif", "keep", False)
    assert output_suffix("anim.gif", None, animated=True) == ".gif"
    assert output_suffix("anim.gif", "png", animated=True) == ".png"  # an APNG
    assert output_suffix("anim.webp", "jpg", animated=True) == ".webp"
    assert (
        format_note("anim.webp", "jpg", True) == "anim.webp is an animation and JPEG holds one picture: it stays WEBP."
    )
    assert format_note("b.jpg", "keep", False) is None


def test_fit_for_flattens_transparency_onto_white_for_jpeg_and_reduces_16_bits():
    rgb = torch.zeros(1, 3, 2, 2)
    alpha = torch.tensor([[[[1.0, 0.0], [0.5, 1.0]]]])
    data, notes = fit_for(ImageData(rgb, alpha), "o.jpg", "a.png")
    assert data.alpha is None and notes == [
        "a.png has transparency, which JPEG cannot hold: it is flattened onto white."
    ]
    assert torch.allclose(data.rgb[0, 0], torch.tensor([[0.0, 1.0], [0.5, 0.0]]))
    assert fit_for(ImageData(rgb, alpha), "o.webp", "a.png")[1] == []
    deep, notes = fit_for(ImageData(rgb, None, 16), "o.webp", "a.png")
    assert deep.bit_depth == 8 and notes == ["a.png has 16 bits per channel; WebP is written with 8."]
    assert fit_for(ImageData(rgb, None, 16), "o.png", "a.png")[0].bit_depth == 16


def test_save_image_quality_shrinks_jpeg_and_makes_webp_lossy_keeping_exif(tmp_path):
    from ops.convert import save_image

    torch.manual_seed(0)
    exif = Image.Exif()
    exif[0x010F] = "GanvasCam"
    data = ImageData(torch.rand(1, 3, 64, 64), exif=exif.tobytes())
    sizes = {}
    for name, quality in [("d.jpg", None), ("q50.jpg", 50), ("d.webp", None), ("q50.webp", 50)]:
        path = save_image(data, tmp_path / name, quality=quality)
        sizes[name] = path.stat().st_size
        assert Image.open(path).getexif()[0x010F] == "GanvasCam"
    assert sizes["q50.jpg"] < sizes["d.jpg"] and sizes["q50.webp"] < sizes["d.webp"] / 2, sizes
