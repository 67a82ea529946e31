"""The working pixel limit: every step checks the size it will make before it allocates it."""

from __future__ import annotations

import pytest
import torch

from core.errors import ImageTooLargeError, InvalidInputError
from core.image import DEFAULT_MAX_PIXELS, ImageData, check_pixels, max_pixels
from ops.composite import composite
from ops.edit import Recipe, pad, resize, rotate
from ops.upscale import upscale


def _img(w: int, h: int, alpha: bool = False) -> ImageData:
    return ImageData(torch.rand(1, 3, h, w), torch.ones(1, 1, h, w) if alpha else None)


def test_the_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("GANVAS_MAX_PIXELS", raising=False)
    assert max_pixels() == DEFAULT_MAX_PIXELS
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "1_000")
    assert max_pixels() == 1000
    for bad in ("lots", "-5", "0", "nan"):
        monkeypatch.setenv("GANVAS_MAX_PIXELS", bad)
        with pytest.raises(InvalidInputError, match="GANVAS_MAX_PIXELS"):
            max_pixels()


def test_the_refusal_says_the_size_the_limit_and_how_to_raise_it(monkeypatch):
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "1000000")
    with pytest.raises(ImageTooLargeError) as err:
        check_pixels(2000, 1000, "The rotated image")
    text = str(err.value)
    assert "The rotated image: 2000x1000 (2 MP) is more than the 1 MP Ganvas works on here" in text
    assert "GANVAS_MAX_PIXELS" in text


def test_sixteen_expanding_rotations_stop_at_the_step_that_outgrows_the_limit(monkeypatch):
    """A recipe of 16 'rotate 45, expand' grew a picture to 1.3 gigapixels (10.9 GB, then an allocator crash)."""
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "40000")
    recipe = Recipe()
    for _ in range(16):
        recipe.add("rotate", angle=45, expand=True)
    with pytest.raises(ImageTooLargeError, match=r"^Step \d+ \(rotate\): The rotated image: "):
        recipe.apply(_img(60, 40))


def test_each_step_that_grows_checks_its_result(monkeypatch):
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "10000")
    img = _img(50, 50)
    with pytest.raises(ImageTooLargeError, match="margins"):
        pad(img, right=100, bottom=100)
    with pytest.raises(ImageTooLargeError, match="resized"):
        resize(img, 1, 100_000)
    with pytest.raises(ImageTooLargeError, match="rotated"):
        rotate(_img(100, 100), 30, expand=True)
    assert rotate(_img(100, 100), 30, expand=False).size == (100, 100)  # same size: within the limit


def test_a_huge_foreground_costs_no_more_than_the_background(monkeypatch):
    """Scale 250 and a turn make a 4000 px layer from a 16 px sticker: only the window that reaches the
    background is sampled, so it fits any limit the background fits."""
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "40000")
    out = composite(_img(150, 150), _img(16, 16, alpha=True), x=-1900, y=-1900, scale=250, rotate=30)
    assert out.size == (150, 150)
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "20000")
    with pytest.raises(ImageTooLargeError, match="placed foreground"):
        composite(_img(150, 150), _img(16, 16, alpha=True), x=-1900, y=-1900, scale=250, rotate=30)


def test_upscale_output_follows_the_working_limit(monkeypatch):
    from models.adapters import ResampleUpscaler
    from models.catalog import get_spec

    model = ResampleUpscaler(get_spec("bicubic"), torch.device("cpu"), torch.float32)
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "10000")
    with pytest.raises(ImageTooLargeError, match="GANVAS_MAX_PIXELS"):
        upscale(_img(60, 60), model, 2)
    assert upscale(_img(50, 50), model, 2).size == (100, 100)
