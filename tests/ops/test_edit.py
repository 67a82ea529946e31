"""Edit ops against their formulas on tiny tensors, and recipes that replay bit for bit."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import GanvasError, ImageTooLargeError, InvalidInputError
from core.image import ImageData
from core.imaging import RESAMPLE_FILTERS
from ops.edit import (
    OPS,
    Recipe,
    adjust,
    apply_step,
    crop,
    erase,
    fill,
    flip,
    mask_from_b64png,
    mask_to_b64png,
    rect_mask,
    resize,
    rotate,
)
from tests import odd_inputs


def _img(h: int = 4, w: int = 6, alpha: bool = False, seed: int = 0, **meta) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(1, 3, h, w, generator=g)
    a = torch.rand(1, 1, h, w, generator=g) if alpha else None
    return ImageData(rgb, a, **meta)


def _mask(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
    m = torch.zeros(1, 1, h, w)
    m[..., y0:y1, x0:x1] = 1
    return m


# ------------------------------------------------------------------------------------ crop


def test_crop_cuts_the_box():
    img = _img(5, 7, alpha=True)
    out = crop(img, 1, 2, 3, 2)
    assert out.size == (3, 2)
    assert torch.equal(out.rgb, img.rgb[..., 2:4, 1:4]) and torch.equal(out.alpha, img.alpha[..., 2:4, 1:4])


def test_crop_clips_to_the_image():
    img = _img(5, 7)
    out = crop(img, -2, -1, 4, 10)
    assert out.size == (2, 5)
    assert torch.equal(out.rgb, img.rgb[..., :, 0:2])


@pytest.mark.parametrize("box", [(7, 0, 3, 3), (-5, 0, 5, 2), (0, 0, 0, 3), (1, 1, 2, -1)])
def test_crop_outside_or_empty_is_an_error(box):
    with pytest.raises(InvalidInputError):
        crop(_img(5, 7), *box)


# ---------------------------------------------------------------------------------- rotate


def test_rotate_90_moves_pixels_exactly_counter_clockwise():
    img = _img(3, 5, alpha=True)
    out = rotate(img, 90)
    assert out.size == (3, 5)
    for i in range(5):
        for j in range(3):  # out[i, j] = in[j, W-1-i]: the top-right corner goes to the top-left
            assert torch.equal(out.rgb[0, :, i, j], img.rgb[0, :, j, 4 - i])
            assert out.alpha[0, 0, i, j] == img.alpha[0, 0, j, 4 - i]
    assert torch.equal(rotate(img, -90).rgb, torch.rot90(img.rgb, 3, dims=(2, 3)))
    assert torch.equal(rotate(img, 180).rgb, img.rgb.flip(2).flip(3))
    assert torch.equal(rotate(img, 360).rgb, img.rgb)


def test_rotate_90_without_expand_keeps_size_and_fills():
    img = _img(2, 6)
    out = rotate(img, 90, expand=False, fill=(1, 0, 0, 1))
    assert out.size == (6, 2) and out.alpha is None
    # The 2x6 turned image is 6 wide and 2 tall: its middle two rows land on the canvas, red around them.
    turned = torch.rot90(img.rgb, 1, dims=(2, 3))
    assert torch.equal(out.rgb[..., :, 2:4], turned[..., 2:4, :])
    assert torch.equal(out.rgb[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("angle", [45, 30, -120])
def test_rotate_expand_size_follows_the_bounding_box(angle):
    w, h = 20, 10
    out = rotate(_img(h, w), angle)
    t = math.radians(angle)
    assert out.width == math.ceil(w * abs(math.cos(t)) + h * abs(math.sin(t)) - 1e-6)
    assert out.height == math.ceil(w * abs(math.sin(t)) + h * abs(math.cos(t)) - 1e-6)


def test_rotate_without_expand_keeps_size():
    assert rotate(_img(10, 20), 33, expand=False).size == (20, 10)


def test_rotate_fills_corners_with_the_colour():
    img = ImageData(torch.full((1, 3, 10, 10), 0.5))
    opaque = rotate(img, 45, fill=(1.0, 0.0, 0.0, 1.0))
    assert opaque.alpha is None
    assert torch.allclose(opaque.rgb[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    c = opaque.height // 2
    assert torch.allclose(opaque.rgb[0, :, c, c], torch.full((3,), 0.5), atol=1e-6)
    clear = rotate(img, 45)
    assert clear.alpha is not None and clear.alpha[0, 0, 0, 0] == 0 and clear.alpha[0, 0, c, c] > 0.999
    assert torch.allclose(clear.rgb[0, :, c, c], torch.full((3,), 0.5), atol=1e-5)


def test_rotate_any_angle_turns_counter_clockwise():
    rgb = torch.zeros(1, 3, 15, 15)
    rgb[..., 7, 12] = 1.0  # right of the centre
    out = rotate(ImageData(rgb), 60, expand=False, fill=(0, 0, 0, 1))
    y, x = divmod(int(out.rgb[0, 0].argmax()), 15)
    # (dx, dy) = (5, 0) turned 60 deg counter-clockwise with y down: (2.5, -4.33) -> near (row 2.7, col 9.5)
    assert y in (2, 3) and x in (9, 10)


# ---------------------------------------------------------------------------------- resize


@pytest.mark.parametrize("method", RESAMPLE_FILTERS)
@pytest.mark.parametrize("size", [(11, 3), (3, 2)])
def test_resize_sizes(method, size):
    out = resize(_img(5, 7, alpha=True), *size, method=method)
    assert out.size == size and out.alpha.shape == (1, 1, size[1], size[0])
    assert float(out.rgb.min()) >= 0 and float(out.rgb.max()) <= 1


@pytest.mark.parametrize("method", RESAMPLE_FILTERS)
@pytest.mark.parametrize("size", [(5, 5), (16, 16)])
def test_resize_has_no_fringe_from_transparent_pixels(method, size):
    rgb = torch.zeros(1, 3, 8, 8)
    rgb[:, 0, :, :4] = 1.0  # transparent red on the left
    rgb[:, 1, :, 4:] = 1.0  # opaque green on the right
    alpha = torch.zeros(1, 1, 8, 8)
    alpha[..., 4:] = 1.0
    out = resize(ImageData(rgb, alpha), *size, method=method)
    seen = out.alpha[0, 0] > 0.01
    assert bool(seen.any())
    assert float(out.rgb[0, 1][seen].min()) > 0.99  # no darkening
    assert float(out.rgb[0, 0][seen].max()) < 0.01  # no red bleeding in


def test_resize_rejects_bad_arguments():
    with pytest.raises(InvalidInputError):
        resize(_img(), 0, 4)
    with pytest.raises(InvalidInputError):
        resize(_img(), 4, 4, method="sinc")


# ------------------------------------------------------------------------------------ flip


def test_flip():
    img = _img(3, 4, alpha=True)
    h = flip(img, "horizontal")
    assert torch.equal(h.rgb[..., :, 0], img.rgb[..., :, 3]) and torch.equal(h.alpha[..., :, 0], img.alpha[..., :, 3])
    v = flip(img, "vertical")
    assert torch.equal(v.rgb[..., 0, :], img.rgb[..., 2, :])
    with pytest.raises(InvalidInputError):
        flip(img, "diagonal")


# ---------------------------------------------------------------------------- erase / fill


def test_erase_to_transparent_only_inside_the_region():
    img = _img(4, 6)
    m = _mask(4, 6, 1, 3, 2, 5)
    out = erase(img, m)
    assert out.alpha is not None
    assert torch.all(out.alpha[m > 0.5] == 0) and torch.all(out.alpha[m < 0.5] == 1)
    assert torch.equal(out.rgb, img.rgb)


def test_erase_to_colour_and_wrong_mask_size():
    img = _img(4, 6, alpha=True)
    m = _mask(4, 6, 0, 2, 0, 2)
    out = erase(img, m, colour=(0.0, 0.0, 1.0))
    assert torch.equal(out.rgb[0, :, 1, 1], torch.tensor([0.0, 0.0, 1.0])) and out.alpha[0, 0, 1, 1] == 1
    assert torch.equal(out.rgb[..., 3:, :], img.rgb[..., 3:, :]) and torch.equal(
        out.alpha[..., 3:, :], img.alpha[..., 3:, :]
    )
    with pytest.raises(InvalidInputError):
        erase(img, torch.ones(1, 1, 3, 6))


def test_fill_colour_changes_only_the_region_and_ungrays():
    img = ImageData(torch.full((1, 3, 4, 4), 0.5), grayscale=True)
    m = _mask(4, 4, 0, 2, 0, 4)
    out = fill(img, m, colour=(1.0, 0.0, 0.0))
    assert torch.equal(out.rgb[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(out.rgb[..., 2:, :], img.rgb[..., 2:, :])
    assert out.grayscale is False
    assert fill(img, m, colour=(0.2, 0.2, 0.2)).grayscale is True


def test_content_aware_fill_uses_the_callable_only_in_the_region():
    img = _img(4, 6, alpha=True)
    m = _mask(4, 6, 1, 3, 1, 3)
    calls = []

    def fake(image: ImageData, mask: torch.Tensor) -> ImageData:
        calls.append(mask.clone())
        return image.with_pixels(torch.full_like(image.rgb, 0.25), None)

    out = fill(img, m, inpaint=fake)
    assert len(calls) == 1 and torch.equal(calls[0], m)
    inside, outside = m[0, 0] > 0.5, m[0, 0] < 0.5
    assert torch.all(out.rgb[0][:, inside] == 0.25)
    assert torch.equal(out.rgb[0][:, outside], img.rgb[0][:, outside])
    assert torch.equal(out.alpha[0, 0][outside], img.alpha[0, 0][outside])
    with pytest.raises(InvalidInputError):
        fill(img, m)


def _keep_colour(image: ImageData, mask: torch.Tensor) -> ImageData:
    """An inpainter as the real ones behave: fills colour (here grey), returns the input alpha untouched."""
    return image.with_pixels(torch.where(mask > 0.5, torch.full_like(image.rgb, 0.5), image.rgb), image.alpha)


def test_content_aware_fill_takes_transparency_from_the_surroundings():
    photo = _img(20, 24)
    hole = rect_mask(photo, 8, 6, 6, 5)
    erased = erase(photo, hole)
    assert float(erased.alpha.max()) == 1 and float(erased.alpha[hole > 0.5].max()) == 0
    refilled = fill(erased, hole, inpaint=_keep_colour)
    assert torch.all(refilled.alpha == 1)  # an erased hole in a photo comes back visible
    turned = rotate(photo, 12)  # transparent corners
    corners = (turned.alpha < 1).float()
    filled = fill(turned, corners, inpaint=_keep_colour)
    assert float(corners.mean()) > 0.1 and torch.all(filled.alpha == 1)
    sticker = ImageData(torch.rand(1, 3, 20, 20), torch.zeros(1, 1, 20, 20))
    sticker.alpha[..., 8:14, 8:14] = 1
    out = fill(sticker, rect_mask(sticker, 1, 1, 4, 4), inpaint=_keep_colour)
    assert torch.equal(out.alpha, sticker.alpha)  # a region of the transparent background stays transparent


# ---------------------------------------------------------------------------------- adjust


def _values() -> ImageData:
    rgb = torch.tensor([[0.0, 0.2, 0.5], [0.9, 1.0, 0.3], [0.6, 0.1, 0.7]]).T.reshape(1, 3, 1, 3)
    return ImageData(rgb.contiguous(), torch.tensor([[[[0.1, 0.5, 1.0]]]]))


def test_adjust_defaults_are_bit_identical():
    img = _img(5, 5, alpha=True)
    for out in (adjust(img), adjust(img, 0, 0, 0, 1, 0, 0)):
        assert torch.equal(out.rgb, img.rgb) and torch.equal(out.alpha, img.alpha)


@pytest.mark.parametrize(
    ("kwargs", "formula"),
    [
        ({"brightness": 0.2}, lambda x: (x + 0.2).clamp(0, 1)),
        ({"brightness": -0.5}, lambda x: (x - 0.5).clamp(0, 1)),
        ({"contrast": 0.5}, lambda x: ((x - 0.5) * 1.5 + 0.5).clamp(0, 1)),
        ({"contrast": -1.0}, lambda x: torch.full_like(x, 0.5)),
        ({"gamma": 2.0}, lambda x: x**0.5),
    ],
)
def test_adjust_tone_formulas(kwargs, formula):
    img = _values()
    out = adjust(img, **kwargs)
    assert torch.allclose(out.rgb, formula(img.rgb), atol=1e-6)
    assert torch.equal(out.alpha, img.alpha)


def test_adjust_saturation_mixes_with_rec601_luma():
    img = _values()
    r, g, b = img.rgb[0]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    gray = adjust(img, saturation=-1.0).rgb[0]
    assert torch.allclose(gray, luma.expand(3, -1, -1), atol=1e-6)
    more = adjust(img, saturation=0.5).rgb[0]
    assert torch.allclose(more, (luma + 1.5 * (img.rgb[0] - luma)).clamp(0, 1), atol=1e-6)


def test_adjust_blur_is_a_normalised_gaussian():
    rgb = torch.zeros(1, 3, 9, 9)
    rgb[..., 4, 4] = 1.0
    out = adjust(ImageData(rgb), blur=1.0).rgb
    w0 = 1 / sum(math.exp(-(k**2) / 2) for k in range(-3, 4))
    assert out[0, 0, 4, 4].item() == pytest.approx(w0**2, rel=1e-5)
    assert out.sum().item() == pytest.approx(3.0, rel=1e-5)
    flat = ImageData(torch.full((1, 3, 5, 5), 0.3))
    assert torch.allclose(adjust(flat, blur=2.0).rgb, flat.rgb, atol=1e-6)


def test_adjust_sharpen_steepens_an_edge():
    rgb = torch.full((1, 3, 3, 12), 0.25)
    rgb[..., 6:] = 0.75
    out = adjust(ImageData(rgb), sharpen=1.0).rgb[0, 0, 1]
    assert out[5] < 0.25 and out[6] > 0.75
    assert out[0] == pytest.approx(0.25, abs=1e-6) and out[11] == pytest.approx(0.75, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs", [{"brightness": 1.5}, {"gamma": 0}, {"blur": -1}, {"sharpen": -0.1}, {"contrast": float("nan")}]
)
def test_adjust_rejects_out_of_range(kwargs):
    with pytest.raises(InvalidInputError):
        adjust(_img(), **kwargs)


# -------------------------------------------------------------------------------- metadata


@pytest.mark.parametrize(
    "op",
    [
        lambda i: crop(i, 1, 1, 2, 2),
        lambda i: rotate(i, 90),
        lambda i: rotate(i, 20, fill=(0.5, 0.5, 0.5, 1)),
        lambda i: resize(i, 3, 9, "bicubic"),
        lambda i: flip(i, "vertical"),
        lambda i: erase(i, _mask(4, 6, 0, 1, 0, 1)),
        lambda i: fill(i, _mask(4, 6, 0, 1, 0, 1), colour=(0.1, 0.1, 0.1)),
        lambda i: adjust(i, contrast=0.3, blur=0.5),
    ],
)
def test_ops_keep_depth_grayscale_and_metadata(op):
    g = torch.rand(1, 1, 4, 6, generator=torch.Generator().manual_seed(1)).expand(1, 3, 4, 6).contiguous()
    out = op(ImageData(g, None, bit_depth=16, grayscale=True, exif=b"Exif\x00\x00x", icc_profile=b"icc"))
    assert (out.bit_depth, out.grayscale, out.exif, out.icc_profile) == (16, True, b"Exif\x00\x00x", b"icc")
    assert out.rgb.dtype == torch.float32


# ---------------------------------------------------------------------------------- recipe


def test_mask_b64_round_trip_is_exact():
    m = (torch.rand(1, 1, 7, 5, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    s = mask_to_b64png(m)
    assert isinstance(s, str)
    back = mask_from_b64png(s)
    assert back.shape == (1, 1, 7, 5) and torch.equal(back, m)
    with pytest.raises(InvalidInputError):
        mask_from_b64png("not base64!")


@pytest.mark.parametrize(
    ("png", "says"),
    [
        (lambda png: png[:8] + b"garbage", "The mask PNG is not an image Ganvas can read"),
        (lambda png: png[: len(png) * 2 // 3], "The mask PNG is damaged or truncated"),
        (lambda png: odd_inputs.png_with_rows(300, 200, 2), "The mask PNG is truncated"),
        (lambda png: odd_inputs.gray_png_bomb(10_000, 10_000), "The mask PNG: 10000x10000"),
    ],
    ids=["not-a-png", "cut", "short-rows", "bomb"],
)
def test_a_mask_png_that_cannot_be_used_is_refused_in_our_words(png, says):
    """The mask of a recipe step is read as every image is: its header first, its pixels whole. The message
    quoted Pillow's before ('The mask PNG cannot be read (cannot identify image file <_io.BytesIO object at
    0x7f...>)')."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40), dtype=np.uint8)).save(buf, "PNG")
    with pytest.raises(GanvasError) as err:
        mask_from_b64png(base64.b64encode(png(buf.getvalue())).decode())
    text = str(err.value)
    assert text.startswith(says) and "BytesIO" not in text and "identify" not in text and "Error" not in text


def _full_recipe(h: int = 8, w: int = 10) -> Recipe:
    m = _mask(h - 1, w, 1, 4, 2, 6)  # the size after the crop below
    return (
        Recipe()
        .add("crop", left=0, top=1, width=w, height=h)
        .add("erase", mask_png=mask_to_b64png(m))
        .add("rotate", angle=30, expand=True, fill=[0.0, 0.0, 0.0, 0.0])
        .add("resize", width=9, height=7, method="lanczos")
        .add("flip", direction="horizontal")
        .add("fill", rect=[1, 1, 3, 2], colour="#00ff00")
        .add("fill", rect=[4, 2, 2, 2], content_aware=True)
        .add("adjust", brightness=0.1, contrast=0.2, saturation=-0.3, gamma=1.2, sharpen=0.5, blur=0.7)
    )


def _blur_inpaint(image: ImageData, mask: torch.Tensor) -> ImageData:
    return adjust(image, blur=2.0)


def test_recipe_replays_bit_identically_through_json():
    img = _img(8, 10, alpha=False, seed=5)
    recipe = _full_recipe()
    a = recipe.apply(img, inpaint=_blur_inpaint)
    b = recipe.apply(img, inpaint=_blur_inpaint)
    again = Recipe.from_json(recipe.to_json())
    assert again.steps == recipe.steps
    c = again.apply(img, inpaint=_blur_inpaint)
    for x in (b, c):
        assert torch.equal(a.rgb, x.rgb) and torch.equal(a.alpha, x.alpha)
    assert a.size == (9, 7)
    data = json.loads(recipe.to_json())
    assert data["version"] == 1 and [s["op"] for s in data["steps"]][:3] == ["crop", "erase", "rotate"]


def test_recipe_add_undo():
    r = Recipe()
    assert r.undo().steps == []
    r.add("rotate", angle=90).add("flip", direction="vertical")
    assert [s["op"] for s in r.steps] == ["rotate", "flip"]
    assert r.undo().steps == [{"op": "rotate", "angle": 90}]
    assert Recipe.from_json(Recipe().to_json()).steps == []


def test_hex_colour_equals_float_colour():
    img = _img(4, 4)
    a = apply_step(img, {"op": "fill", "rect": [0, 0, 2, 2], "colour": "#ff0000"})
    b = apply_step(img, {"op": "fill", "rect": [0, 0, 2, 2], "colour": [1.0, 0.0, 0.0]})
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.rgb[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_misspelled_parameter_names_the_allowed_ones():
    with pytest.raises(InvalidInputError, match="rotate has no parameter 'angel'; it takes: angle, expand, fill"):
        Recipe().add("rotate", angel=30)


@pytest.mark.parametrize(
    ("op", "params"),
    [
        ("explode", {}),
        ("rotate", {"angle": "thirty"}),
        ("rotate", {"angle": True}),
        ("rotate", {}),
        ("crop", {"left": 0, "top": 0, "width": 2.5, "height": 3}),
        ("resize", {"width": 4, "height": 4, "method": "sinc"}),
        ("flip", {"direction": "up"}),
        ("erase", {}),
        ("erase", {"rect": [0, 0, 1, 1], "mask_png": mask_to_b64png(torch.ones(2, 2))}),
        ("erase", {"mask_png": "@@@"}),
        ("fill", {"rect": [0, 0, 1, 1]}),
        ("fill", {"rect": [0, 0, 1, 1], "colour": "#00ff00", "content_aware": True}),
        ("fill", {"rect": [0, 0, 1, 1], "colour": "green"}),
        ("fill", {"rect": [0, 0, 1, 1], "colour": [0, 2, 0]}),
        ("adjust", {"brightness": 3}),
        ("adjust", {"gamma": 0}),
        ("adjust", {"sharpen": 1e39}),  # overflowed float32 into NaN pixels
        ("crop", {"left": 0, "top": 0, "width": 10**400, "height": 3}),  # too big for a float
    ],
)
def test_invalid_steps_are_refused_when_added(op, params):
    with pytest.raises(InvalidInputError):
        Recipe().add(op, **params)
    assert op in OPS or op == "explode"


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"version": 2, "steps": []}',
        '{"steps": []}',
        '{"version": 1, "steps": [], "author": "me"}',
        '{"version": 1, "steps": [{"op": "rotate", "angle": 90, "speed": 3}]}',
        '{"version": 1, "steps": [{"angle": 90}]}',
    ],
)
def test_from_json_is_strict(text):
    with pytest.raises(InvalidInputError):
        Recipe.from_json(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000, "not valid JSON"),  # nested past Python's stack
        ('{"version": 1, "steps": [{"op": "rotate", "angle": 1' + "0" * 5000 + "}]}", "not valid JSON"),
        ('{"steps": []}', 'no "version"'),
        # an empty text was 'not valid JSON (line 1, column 1)' in the CLI and no steps in the app: one message
        ("", "^The recipe is empty: a recipe is a JSON object"),
        (" \n\t", "^The recipe is empty"),
        (None, "^The recipe is empty"),
    ],
)
def test_unreadable_recipes_get_a_plain_message(text, message):
    with pytest.raises(InvalidInputError, match=message):
        Recipe.from_json(text)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"op": ["rotate"]}, "^Step 1: Unknown edit \\['rotate'\\]"),  # a list: unhashable
        ({"angle": 90}, '^Step 1: A step has no "op"'),
        (["rotate"], "^Step 1: Each recipe step must be an object"),
    ],
)
def test_malformed_steps_are_named_without_a_crash(step, message):
    with pytest.raises(InvalidInputError, match=message):
        Recipe(steps=[step]).apply(_img(4, 4))


def test_a_recipe_with_a_byte_order_mark_reads_like_one_without():
    """Windows Notepad saves UTF-8 with a byte-order mark; the JSON after it is the same recipe."""
    text = Recipe().add("rotate", angle=90).to_json()
    assert Recipe.from_json("\ufeff" + text).steps == Recipe.from_json(text).steps == [{"op": "rotate", "angle": 90}]


def test_apply_errors_name_the_step():
    img = _img(4, 4)
    aware = Recipe().add("fill", rect=[0, 0, 2, 2], content_aware=True)
    with pytest.raises(InvalidInputError, match="Step 1"):
        aware.apply(img)
    wrong = Recipe().add("rotate", angle=90).add("erase", mask_png=mask_to_b64png(torch.ones(3, 4)))
    with pytest.raises(InvalidInputError, match="Step 2 \\(erase\\)"):
        wrong.apply(img)
    huge = Recipe().add("flip", direction="horizontal").add("resize", width=100_000, height=100_000)
    with pytest.raises(ImageTooLargeError, match="^Step 2 \\(resize\\): .*the 32 MP"):
        huge.apply(img)


# ------------------------------------------------------------------------- canvas margins


def test_pad_adds_transparent_margins_and_copies_the_pixels_exactly():
    img = _img(4, 6, seed=2)
    out = apply_step(img, {"op": "pad", "left": 2, "top": 1, "right": 3})
    assert out.size == (11, 5)
    assert torch.equal(out.rgb[..., 1:5, 2:8], img.rgb)
    assert torch.all(out.alpha[..., 1:5, 2:8] == 1) and float(out.alpha.sum()) == 24  # only the image is opaque
    grey = ImageData(img.rgb[:, :1].expand(1, 3, 4, 6).contiguous(), grayscale=True, bit_depth=16)
    framed = apply_step(grey, {"op": "pad", "bottom": 2, "fill": "#ff0000"})
    assert framed.alpha is None and framed.size == (6, 6) and framed.bit_depth == 16
    assert framed.grayscale is False and torch.equal(framed.rgb[0, :, 5, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert apply_step(grey, {"op": "pad", "top": 1}).grayscale is True  # transparent margins keep it grey


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ({"op": "pad"}, "at least one margin"),
        ({"op": "pad", "left": -1}, "at least 0"),
        ({"op": "pad", "left": 1, "fill": "nope"}, "colour"),
        ({"op": "fill", "transparent": False, "content_aware": True}, "exactly one region"),
        ({"op": "fill", "transparent": True, "rect": [0, 0, 1, 1], "colour": "#ffffff"}, "exactly one region"),
    ],
)
def test_pad_and_transparent_regions_are_checked(step, words):
    with pytest.raises(InvalidInputError, match=words):
        apply_step(_img(), step)


def test_rotate_then_fill_the_corners_gives_an_opaque_picture():
    """Straighten a photo without losing its corners: rotate, then content-aware fill what is transparent."""
    photo = _img(24, 32, seed=4)
    recipe = Recipe().add("rotate", angle=7).add("fill", transparent=True, content_aware=True)
    out = recipe.apply(photo, inpaint=_keep_colour)
    turned = rotate(photo, 7)
    corners = turned.alpha[0, 0] < 1 - 0.5 / 255
    assert out.size == turned.size and float(out.alpha.min()) > 1 - 1e-6
    assert torch.all(out.rgb[0][:, corners] == 0.5)  # filled by the inpainter
    assert torch.equal(out.rgb[0][:, ~corners], turned.rgb[0][:, ~corners])  # the picture itself is kept
    again = Recipe.from_json(recipe.to_json()).apply(photo, inpaint=_keep_colour)
    assert torch.equal(again.rgb, out.rgb)
    opaque = Recipe().add("fill", transparent=True, colour="#00ff00").apply(photo)
    assert torch.equal(opaque.rgb, photo.rgb)  # nothing transparent: nothing to fill


def test_pad_then_fill_extends_the_picture():
    photo = _img(10, 10, seed=5)
    out = Recipe().add("pad", right=6).add("fill", transparent=True, content_aware=True).apply(photo, _keep_colour)
    assert out.size == (16, 10) and torch.all(out.alpha == 1)
    assert torch.equal(out.rgb[..., :10], photo.rgb) and torch.all(out.rgb[..., 10:] == 0.5)


def _sepia(image: ImageData, model: str) -> ImageData:
    """A stand-in filter: records the model asked for, tints the colour."""
    _sepia.asked.append(model)
    return image.with_pixels(image.rgb * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1))


_sepia.asked = []


def test_gan_filter_step_runs_the_filter_it_is_given_with_the_model_it_names():
    _sepia.asked.clear()
    img = _img(alpha=True, bit_depth=16)
    recipe = Recipe.from_json(Recipe().add("gan_filter").add("gan_filter", model="cyclegan-vintage").to_json())
    out = recipe.apply(img, gan_filter=_sepia)
    assert _sepia.asked == ["", "cyclegan-vintage"]  # no model: the default filter's
    assert torch.allclose(out.rgb[:, 2], img.rgb[:, 2] * 0.36) and torch.equal(out.alpha, img.alpha)
    assert out.bit_depth == 16


@pytest.mark.parametrize(
    ("step", "says"),
    [
        ({"op": "gan_filter", "model": "sepia"}, "'model' of gan_filter must be one of: cyclegan-vintage"),
        ({"op": "gan_filter", "model": 3}, "'model' of gan_filter must be one of"),
        ({"op": "gan_filter", "strength": 0.5}, "gan_filter has no parameter 'strength'; it takes: model"),
    ],
)
def test_bad_gan_filter_steps_are_refused_in_a_sentence(step, says):
    with pytest.raises(InvalidInputError, match=says):
        apply_step(_img(), step, gan_filter=_sepia)


def test_a_gan_filter_step_without_a_filter_says_what_it_needs():
    with pytest.raises(InvalidInputError, match="Step 1 \\(gan_filter\\): .* needs a filter model"):
        Recipe().add("gan_filter").apply(_img())
