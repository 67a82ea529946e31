"""Compositing: blend formulas, Porter-Duff over, placement geometry, seamless and depth compositing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.errors import InvalidInputError
from core.image import ImageData
from ops.composite import (
    BLEND_MODES,
    blend,
    centred_at,
    composite,
    depth_composite,
    depth_from_image,
    mask_from_image,
    over,
    place_layer,
    resize_notes,
)


def _img(rgb, alpha=None, **meta) -> ImageData:
    """ImageData from an HxWx3 (or HxW gray, broadcast) array and an optional HxW alpha."""
    a = np.asarray(rgb, dtype=np.float32)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    t = torch.from_numpy(a).permute(2, 0, 1)[None].contiguous()
    al = None if alpha is None else torch.from_numpy(np.asarray(alpha, dtype=np.float32))[None, None].contiguous()
    return ImageData(t, al, **meta)


def _solid(w: int, h: int, value: float, alpha: float | None = None, **meta) -> ImageData:
    return _img(np.full((h, w), value), None if alpha is None else np.full((h, w), alpha), **meta)


def _px(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, -1).expand(1, 3, 1, -1).contiguous()


# --------------------------------------------------------------------------------------- blend

BLEND_CASES = {
    # mode: (backdrop values, source values, expected)
    "normal": ([0.2, 0.9], [0.7, 0.1], [0.7, 0.1]),
    "multiply": ([0.5, 0.2], [0.5, 1.0], [0.25, 0.2]),
    "screen": ([0.5, 0.2], [0.5, 0.4], [0.75, 0.52]),
    # overlay: backdrop <= 0.5 -> 2bs ; backdrop > 0.5 -> 1 - 2(1-b)(1-s)
    "overlay": ([0.25, 0.2, 0.75, 0.75], [0.5, 0.6, 0.5, 0.2], [0.25, 0.24, 0.75, 0.6]),
    # soft light: s <= 0.5 -> b - (1-2s)b(1-b); s > 0.5 -> b + (2s-1)(D(b)-b), D = sqrt(b) or cubic for b <= 0.25
    "soft_light": ([0.5, 0.64, 0.25, 0.125], [0.25, 0.75, 1.0, 0.75], [0.375, 0.72, 0.5, 0.234375]),
    "darken": ([0.3, 0.9], [0.6, 0.1], [0.3, 0.1]),
    "lighten": ([0.3, 0.9], [0.6, 0.1], [0.6, 0.9]),
    "difference": ([0.3, 0.9], [0.8, 0.1], [0.5, 0.8]),
    "add": ([0.7, 0.2], [0.6, 0.3], [1.0, 0.5]),
}


def test_every_blend_mode_has_a_formula_case():
    assert set(BLEND_CASES) == set(BLEND_MODES)


@pytest.mark.parametrize("mode", BLEND_MODES)
def test_blend_matches_formula(mode):
    b, s, expected = BLEND_CASES[mode]
    out = blend(_px(b), _px(s), mode)
    assert out.shape == (1, 3, 1, len(b))
    torch.testing.assert_close(out, _px(expected), atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", BLEND_MODES)
def test_blend_stays_in_unit_range(mode):
    g = torch.Generator().manual_seed(0)
    b, s = torch.rand(1, 3, 5, 5, generator=g), torch.rand(1, 3, 5, 5, generator=g)
    out = blend(b, s, mode)
    assert out.min() >= 0 and out.max() <= 1


def test_blend_rejects_unknown_mode_naming_the_valid_ones():
    with pytest.raises(InvalidInputError, match="soft_light"):
        blend(_px([0.5]), _px([0.5]), "burn")


def test_blend_rejects_different_sizes():
    with pytest.raises(InvalidInputError):
        blend(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 3), "multiply")


# ---------------------------------------------------------------------------------------- over


def _a(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, -1)


def test_over_matches_porter_duff_by_hand():
    fg, af = _px([1.0, 1.0, 0.8, 0.3, 0.6, 0.4]), _a([1.0, 0.5, 0.25, 0.0, 0.5, 0.0])
    bg, ab = _px([0.2, 0.0, 0.5, 0.7, 0.0, 0.9]), _a([0.4, 0.5, 0.0, 0.6, 1.0, 0.0])
    rgb, alpha = over(fg, af, bg, ab)
    # a = af + ab(1-af); c = (cf af + cb ab (1-af)) / a
    torch.testing.assert_close(alpha, _a([1.0, 0.75, 0.25, 0.6, 1.0, 0.0]))
    torch.testing.assert_close(rgb, _px([1.0, 0.5 / 0.75, 0.8, 0.7, 0.5 * 0.6 / 1.0, 0.0]))


def test_over_opaque_background_and_exact_untouched_pixels():
    bg = torch.rand(1, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    af = torch.zeros(1, 1, 3, 3)
    af[..., 1, 1] = 1.0
    fg = torch.full((1, 3, 3, 3), 0.25)
    rgb, alpha = over(fg, af, bg, None)
    assert torch.equal(alpha, torch.ones(1, 1, 3, 3))
    assert torch.equal(rgb[..., 1, 1], fg[..., 1, 1])
    untouched = af[0, 0] == 0
    assert torch.equal(rgb[0][:, untouched], bg[0][:, untouched])


# ----------------------------------------------------------------------------------- placement


def test_place_layer_exact_integer_placement():
    g = torch.Generator().manual_seed(2)
    fg = ImageData(torch.rand(1, 3, 2, 2, generator=g))
    rgb, alpha = place_layer(fg, (6, 4), 3, 1)
    assert rgb.shape == (1, 3, 4, 6) and alpha.shape == (1, 1, 4, 6)
    expected = torch.zeros(1, 1, 4, 6)
    expected[..., 1:3, 3:5] = 1
    assert torch.equal(alpha, expected)
    assert torch.equal(rgb[..., 1:3, 3:5], fg.rgb)  # bit-exact copy
    assert rgb[..., 0, :].abs().sum() == 0


def test_place_layer_scale_two_doubles_size_bilinear():
    fg = _img([[0.0, 1.0]])  # 2x1 horizontal ramp
    rgb, alpha = place_layer(fg, (8, 5), 1, 2, scale=2.0)
    ys, xs = torch.nonzero(alpha[0, 0] > 0, as_tuple=True)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (1, 4, 2, 3)
    assert torch.equal(alpha[0, 0, 2:4, 1:5], torch.ones(2, 4))  # edges stay opaque
    torch.testing.assert_close(rgb[0, 0, 2, 1:5], torch.tensor([0.0, 0.25, 0.75, 1.0]))


def test_place_layer_downscale_averages():
    fg = _img(np.tile([[0.0, 1.0]], (4, 2)))  # 4x4 stripes
    rgb, alpha = place_layer(fg, (2, 2), 0, 0, scale=0.5)
    assert torch.equal(alpha, torch.ones(1, 1, 2, 2))
    torch.testing.assert_close(rgb, torch.full((1, 3, 2, 2), 0.5), atol=1e-5, rtol=0)


def test_place_layer_rotate_90_is_counter_clockwise_and_swaps_size():
    v = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], dtype=np.float32)  # w=3, h=2
    rgb, alpha = place_layer(_img(v), (5, 5), 0, 0, rotate=90)
    ys, xs = torch.nonzero(alpha[0, 0] > 0, as_tuple=True)
    assert (int(xs.max()) + 1, int(ys.max()) + 1) == (2, 3)
    # Counter-clockwise: the top-right pixel ends up top-left, the bottom-left bottom-right.
    assert torch.equal(rgb[0, 0, :3, :2], torch.from_numpy(np.rot90(v).copy()))
    assert rgb[0, 0, 0, 0] == pytest.approx(0.3) and rgb[0, 0, 2, 1] == pytest.approx(0.4)


def test_resampled_rotation_agrees_with_exact_rotation():
    g = torch.Generator().manual_seed(3)
    src = torch.rand(1, 3, 3, 4, generator=g)
    a = place_layer(ImageData(src), (12, 12), 1, 1, scale=2.0, rotate=90)
    b = place_layer(ImageData(torch.rot90(src, 1, dims=(-2, -1)).contiguous()), (12, 12), 1, 1, scale=2.0)
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(a[1], b[1], atol=1e-5, rtol=0)


def test_place_layer_rotate_45_expands_canvas():
    rgb, alpha = place_layer(_solid(4, 4, 0.6), (10, 10), 2, 2, rotate=45)
    side = math.ceil(4 * math.sqrt(2))  # 6
    ys, xs = torch.nonzero(alpha[0, 0] > 0, as_tuple=True)
    assert xs.min() >= 2 and ys.min() >= 2 and xs.max() <= 2 + side - 1 and ys.max() <= 2 + side - 1
    assert xs.max() - xs.min() + 1 >= side - 1
    assert alpha[0, 0, 2 + side // 2, 2 + side // 2] == 1.0  # centre
    assert alpha[0, 0, 2, 2] == 0.0  # the bounding box corner is empty
    torch.testing.assert_close(rgb[0, :, 5, 5], torch.full((3,), 0.6))


def test_place_layer_clips_negative_x_and_off_canvas():
    v = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], dtype=np.float32)
    rgb, alpha = place_layer(_img(v), (4, 3), -2, 0)
    assert torch.equal(alpha[0, 0], torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0], [0, 0, 0, 0]]))
    assert torch.equal(rgb[0, 0, :2, 0], torch.tensor([0.3, 0.6]))
    rgb, alpha = place_layer(_img(v), (4, 3), 10, -7)
    assert alpha.sum() == 0 and rgb.sum() == 0


def test_place_layer_validates_scale():
    with pytest.raises(InvalidInputError, match="Scale"):
        place_layer(_solid(2, 2, 1.0), (4, 4), 0, 0, scale=0)
    # sizing a layer checks it too: the CLI and the UI centre a layer with centred_at before compositing
    for scale in (float("inf"), float("nan"), 1e20):
        with pytest.raises(InvalidInputError, match="Scale"):
            centred_at((2, 2), (1.0, 1.0), scale=scale)


# ----------------------------------------------------------------------------------- composite


def test_composite_opacity_and_opaque_result():
    bg = _solid(6, 4, 0.0, exif=b"Exif\x00\x00bg")
    out = composite(bg, _solid(2, 2, 1.0), x=1, y=1, opacity=0.5)
    assert out.alpha is None and out.size == (6, 4) and out.exif == b"Exif\x00\x00bg"
    expected = torch.zeros(1, 3, 4, 6)
    expected[..., 1:3, 1:3] = 0.5
    assert torch.equal(out.rgb, expected)


def test_composite_keeps_background_alpha():
    bg = _solid(5, 5, 0.2, alpha=0.0)
    fg = _img(np.full((2, 2), 0.9), np.array([[1.0, 0.5], [0.0, 1.0]]))
    out = composite(bg, fg, x=2, y=2)
    assert out.alpha is not None
    expected = torch.zeros(1, 1, 5, 5)
    expected[..., 2:4, 2:4] = torch.tensor([[1.0, 0.5], [0.0, 1.0]])
    assert torch.equal(out.alpha, expected)
    torch.testing.assert_close(out.rgb[0, :, 2, 3], torch.full((3,), 0.9))


def test_composite_metadata_depth_and_grayscale():
    bg = _solid(3, 3, 0.5, bit_depth=8, grayscale=True, icc_profile=b"icc")
    fg = ImageData(torch.rand(1, 3, 2, 2), bit_depth=16)
    out = composite(bg, fg)
    assert out.bit_depth == 16 and out.icc_profile == b"icc" and out.grayscale is False
    assert composite(bg, _solid(1, 1, 0.1, grayscale=True)).grayscale is True
    # a colour layer that leaves no colour on the gray background keeps it gray: off the canvas, or invisible
    assert composite(bg, fg, x=50, y=50).grayscale is True
    assert composite(bg, fg, opacity=0.0).grayscale is True


def test_composite_bit_exact_when_untransformed():
    g = torch.Generator().manual_seed(4)
    bg, fg = ImageData(torch.rand(1, 3, 5, 6, generator=g)), ImageData(torch.rand(1, 3, 2, 3, generator=g))
    out = composite(bg, fg, x=2, y=1)
    assert torch.equal(out.rgb[..., 1:3, 2:5], fg.rgb)
    keep = torch.ones(5, 6, dtype=torch.bool)
    keep[1:3, 2:5] = False
    assert torch.equal(out.rgb[0][:, keep], bg.rgb[0][:, keep])


@pytest.mark.parametrize("mode", BLEND_MODES)
@pytest.mark.parametrize("bg_alpha", [False, True])
def test_composite_on_the_layer_box_equals_the_whole_canvas_computation(mode, bg_alpha):
    """Only the layer's box is computed: the result equals placing on a full canvas and blending everywhere."""
    g = torch.Generator().manual_seed(3)
    bg = ImageData(rgb=torch.rand(1, 3, 40, 56, generator=g), alpha=torch.rand(1, 1, 40, 56, generator=g))
    bg.alpha[..., :6, :] = 0  # fully transparent rows, the corner of the layer among them
    if not bg_alpha:
        bg = ImageData(rgb=bg.rgb)
    fg = ImageData(rgb=torch.rand(1, 3, 13, 17, generator=g), alpha=torch.rand(1, 1, 13, 17, generator=g))
    for x, y, scale, rotate in [(5, 3, 1.0, 0.0), (-6, 30, 1.6, 35.0), (48, -4, 0.7, 270.0)]:
        out = composite(bg, fg, x=x, y=y, scale=scale, rotate=rotate, opacity=0.8, blend_mode=mode)
        rgb, alpha = place_layer(fg, bg.size, x, y, scale, rotate)
        mixed = blend(bg.rgb, rgb, mode)
        if bg.alpha is not None:
            mixed = (1 - bg.alpha) * rgb + bg.alpha * mixed
        ref_rgb, ref_a = over(mixed, alpha * 0.8, bg.rgb, bg.alpha)
        assert torch.allclose(out.rgb, ref_rgb.clamp(0, 1), atol=1e-6, rtol=0)
        if bg_alpha:
            assert torch.allclose(out.alpha, ref_a, atol=1e-6, rtol=0)
        else:
            assert out.alpha is None


def test_composite_mask_multiplies_alpha_and_is_resized():
    bg, fg = _solid(4, 2, 0.0), _solid(4, 2, 1.0)
    mask = _img(np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]))
    out = composite(bg, fg, mask=mask)
    assert torch.equal(out.rgb[0, 0], torch.tensor([[1.0, 1, 0, 0], [1.0, 1, 0, 0]]))
    big_mask = _img(np.kron(mask.rgb[0, 0].numpy(), np.ones((3, 3))))  # 12x6, same pattern
    out = composite(bg, fg, mask=big_mask)
    assert torch.equal(out.rgb[0, 0], torch.tensor([[1.0, 1, 0, 0], [1.0, 1, 0, 0]]))


def test_mask_from_image_is_luminance_times_alpha():
    m = mask_from_image(_img(np.array([[[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]]), np.array([[1.0, 0.5]])))
    torch.testing.assert_close(m, torch.tensor([[[[0.299, 0.5]]]]))


def test_composite_feather_softens_layer_edge_only():
    bg = _solid(30, 30, 0.0)
    hard = composite(bg, _solid(20, 20, 1.0), x=5, y=5)
    soft = composite(bg, _solid(20, 20, 1.0), x=5, y=5, feather=2.0)
    assert hard.rgb[0, 0, 15, 5] == 1.0
    assert 0.2 < soft.rgb[0, 0, 15, 5] < 0.8  # edge pixel
    assert soft.rgb[0, 0, 15, 15] == pytest.approx(1.0, abs=1e-6)  # centre
    assert soft.rgb[0, 0, 15, 4] == 0.0  # outside stays background
    assert torch.all(soft.rgb[0, 0, 15, 5:15].diff() >= 0)  # a ramp towards the inside
    # A layer covering the whole canvas has no edge on the canvas: nothing is softened.
    full = composite(_solid(10, 10, 0.0), _solid(30, 30, 1.0), x=-10, y=-10, feather=2.0)
    torch.testing.assert_close(full.rgb, torch.ones(1, 3, 10, 10), atol=1e-6, rtol=0)
    # A feather far wider than the canvas stays bounded in cost and fades the layer evenly.
    wide = composite(_solid(8, 8, 0.0), _solid(8, 8, 1.0), feather=1e4)
    assert wide.rgb.max() < 0.01 and wide.rgb.std() < 1e-3


def test_composite_blend_mode_uses_mixing_rule():
    bg = _img(np.full((2, 2), 0.5), np.array([[1.0, 0.0], [0.5, 1.0]]))
    out = composite(bg, _solid(2, 2, 0.5), blend_mode="multiply")
    # (1 - ab) * fg + ab * (bg * fg), then over with fg alpha 1
    expected = torch.tensor([[0.25, 0.5], [0.375, 0.25]])
    torch.testing.assert_close(out.rgb[0, 0], expected)
    assert torch.equal(out.alpha[0, 0], torch.ones(2, 2))
    opaque = composite(_solid(2, 2, 0.4), _solid(2, 2, 0.5), blend_mode="screen")
    torch.testing.assert_close(opaque.rgb, torch.full((1, 3, 2, 2), 0.7))


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"scale": 0.0}, "Scale"),
        ({"scale": float("nan")}, "Scale"),
        ({"scale": float("inf")}, "Scale"),
        ({"scale": 1e20}, "at most 1000"),  # an int too big to size a layer with
        ({"feather": 1e200}, "Feather"),  # a kernel too wide to count
        ({"opacity": 1.5}, "Opacity"),
        ({"opacity": -0.1}, "Opacity"),
        ({"feather": -1.0}, "Feather"),
        ({"rotate": float("inf")}, "Rotation"),
        ({"blend_mode": "dodge"}, "blend mode"),
    ],
)
def test_composite_rejects_bad_parameters(kwargs, word):
    with pytest.raises(InvalidInputError, match=word):
        composite(_solid(3, 3, 0.0), _solid(2, 2, 1.0), **kwargs)


# ------------------------------------------------------------------------------------ seamless


def _texture(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(40, 200, (h, w, 3)) / 255.0).astype(np.float32)


def test_seamless_clone_follows_source_gradients_and_touches_only_the_region():
    tex = _texture(40, 30, 5)
    bg = _img(tex)
    # Same texture, brighter: its gradients equal the background's, so the clone reproduces bg.
    fg = _img(tex[8:20, 10:25] + 0.12)
    out = composite(bg, fg, x=10, y=8, seamless=True)
    assert out.alpha is None and out.size == (40, 30)
    inside = out.rgb[..., 9:19, 11:24]
    assert (inside - bg.rgb[..., 9:19, 11:24]).abs().max() <= 3 / 255
    plain = composite(bg, fg, x=10, y=8)
    assert (plain.rgb[..., 9:19, 11:24] - bg.rgb[..., 9:19, 11:24]).abs().min() > 0.1
    outside = torch.ones(30, 40, dtype=torch.bool)
    outside[8:20, 10:25] = False
    assert torch.equal(out.rgb[0][:, outside], bg.rgb[0][:, outside])


def test_seamless_clone_brings_new_detail_partly_off_canvas():
    bg = _img(np.full((20, 20), 0.5))
    fg = _img(_texture(16, 12, 6))
    out = composite(bg, fg, x=-4, y=4, seamless=True)
    assert (out.rgb[..., 8:12, 4:8] - bg.rgb[..., 8:12, 4:8]).abs().max() > 0.05
    assert torch.equal(out.rgb[..., :, 12:], bg.rgb[..., :, 12:])
    assert torch.equal(out.rgb[..., 16:, :], bg.rgb[..., 16:, :])


def test_seamless_clone_errors_when_nothing_overlaps_or_too_small():
    bg = _img(np.full((10, 10), 0.5))
    with pytest.raises(InvalidInputError, match="visible part"):
        composite(bg, _solid(3, 3, 1.0), x=20, y=20, seamless=True)
    with pytest.raises(InvalidInputError, match="too small"):
        composite(bg, _solid(6, 6, 1.0), x=2, y=2, seamless=True)
    with pytest.raises(InvalidInputError, match="too small"):
        composite(bg, _solid(3, 3, 1.0, alpha=0.4), x=3, y=3, seamless=True)


# --------------------------------------------------------------------------------------- depth


def test_depth_nearer_pixel_wins_both_ways():
    bg, fg = _solid(4, 4, 0.0), _solid(4, 4, 1.0)
    assert torch.equal(depth_composite(bg, fg, bg_depth=0.5, fg_depth=0.2).rgb, torch.ones(1, 3, 4, 4))
    assert torch.equal(depth_composite(bg, fg, bg_depth=0.5, fg_depth=0.8).rgb, torch.zeros(1, 3, 4, 4))
    assert torch.equal(depth_composite(bg, fg, bg_depth=0.5, fg_depth=0.5).rgb, torch.ones(1, 3, 4, 4))
    bg_map = torch.zeros(1, 1, 4, 4)
    bg_map[..., 2:] = 1.0  # left half near, right half far
    out = depth_composite(bg, fg, bg_depth=bg_map, fg_depth=0.5)
    assert torch.equal(out.rgb[0, 0, 0], torch.tensor([0.0, 0.0, 1.0, 1.0]))


def test_depth_softness_gives_half_at_equal_depth():
    bg, fg = _solid(2, 2, 0.0), _solid(2, 2, 1.0)
    out = depth_composite(bg, fg, bg_depth=0.5, fg_depth=0.5, softness=0.2)
    torch.testing.assert_close(out.rgb, torch.full((1, 3, 2, 2), 0.5))
    out = depth_composite(bg, fg, bg_depth=0.5, fg_depth=0.45, softness=0.2)  # 0.5 + 0.05/0.2
    torch.testing.assert_close(out.rgb, torch.full((1, 3, 2, 2), 0.75))


def test_depth_map_moves_with_the_foreground():
    bg = _solid(5, 5, 0.0, alpha=0.0)
    fg = _img(np.array([[1.0, 0.6]]))  # 2x1
    fg_depth = torch.tensor([[[[0.1, 0.9]]]])  # left pixel near, right pixel far
    out = depth_composite(bg, fg, bg_depth=0.5, fg_depth=fg_depth, x=1, y=2, rotate=90)
    # Rotated CCW the far right pixel goes on top (row 2), the near left one below (row 3).
    expected = torch.zeros(1, 1, 5, 5)
    expected[..., 3, 1] = 1.0
    assert torch.equal(out.alpha, expected)
    assert out.rgb[0, 0, 3, 1] == 1.0


def test_depth_composite_takes_the_mask_feather_and_blend_mode():
    bg, fg = _solid(4, 4, 0.5), _solid(4, 4, 1.0)
    mask = np.ones((4, 4))
    mask[:, :2] = 0  # keep only the right half of the foreground
    out = depth_composite(bg, fg, bg_depth=0.5, fg_depth=0.2, mask=_img(mask))
    assert torch.equal(out.rgb[0, 0, 0], torch.tensor([0.5, 0.5, 1.0, 1.0]))
    mult = depth_composite(bg, _solid(4, 4, 0.5), bg_depth=0.5, fg_depth=0.2, blend_mode="multiply")
    torch.testing.assert_close(mult.rgb, torch.full((1, 3, 4, 4), 0.25))
    soft = depth_composite(bg, fg, bg_depth=0.5, fg_depth=0.2, feather=1.0)
    assert 0.5 < float(soft.rgb[0, 0, 0, 0]) < float(soft.rgb[0, 0, 2, 2]) <= 1.0  # edge softer than the middle
    with pytest.raises(InvalidInputError, match="blend"):
        depth_composite(bg, fg, bg_depth=0.5, fg_depth=0.2, blend_mode="sparkle")


def test_depth_composite_validates_maps():
    bg, fg = _solid(4, 4, 0.0), _solid(2, 2, 1.0)
    for bad in (1.5, -0.1, 1e308, math.nan, math.inf, torch.full((1, 1, 4, 4), 2.0)):
        # refused before a map is made of it (1e308 overflowed float32 in torch.full, a RuntimeError)
        with pytest.raises(InvalidInputError, match="between 0"):
            depth_composite(bg, fg, bg_depth=bad, fg_depth=0.5)
    with pytest.raises(InvalidInputError, match="Softness"):
        depth_composite(bg, fg, bg_depth=0.5, fg_depth=0.5, softness=-1)


def test_depth_from_image_luminance():
    d = depth_from_image(_img(np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]), np.array([[0.0, 0.0]])))
    torch.testing.assert_close(d, torch.tensor([[[[0.299, 0.114]]]]))
    gray = _img(np.array([[0.3, 0.7]]), grayscale=True)
    assert torch.equal(depth_from_image(gray), gray.rgb[:, :1])


def test_misses_canvas_says_when_the_layer_lands_wholly_off_the_background():
    from ops.composite import misses_canvas

    assert misses_canvas((10, 4), (50, 40), 45, 0) is None  # partly on
    assert misses_canvas((10, 4), (50, 40), -9, -3) is None  # its last pixel still on
    assert misses_canvas((10, 4), (50, 40), -10, 0) is not None
    assert misses_canvas((10, 4), (50, 40), 0, 40) is not None
    # scaled and turned upright the layer reaches further: 10x4 -> 8x20 at scale 2 turned 90
    assert misses_canvas((10, 4), (50, 40), 0, -19, 2.0, 90) is None
    assert misses_canvas((10, 4), (50, 40), 0, -20, 2.0, 90) is not None
    assert misses_canvas((10, 4), (50, 40), 0, -19, 1.0, 90) is not None  # unscaled: 4x10
    assert misses_canvas((10, 4), (50, 40), -15, 0, 2.0, 0) is None
    said = misses_canvas((10, 4), (50, 40), 500, 7)
    assert said == (
        "The foreground (10x4 at x 500, y 7) lies wholly outside the 50x40 background, so the result is the "
        "background unchanged."
    )


def test_a_depth_map_of_another_size_is_resized_with_a_note_as_a_mask_is():
    """One rule for every map of a composite: a mask of another size than the foreground, and a depth map of
    another size than its image, are resized to it, and a note says so (a depth map was refused before)."""
    bg, fg = _solid(4, 4, 0.0), _solid(2, 2, 1.0)
    near_left = torch.zeros(1, 1, 1, 2)
    near_left[..., 1] = 1.0  # 2x1: left half near, right half far
    out = depth_composite(bg, fg, bg_depth=near_left, fg_depth=0.5, x=1, y=1)
    assert float(out.rgb[0, 0, 1, 1]) == 0.0 and float(out.rgb[0, 0, 1, 2]) == 1.0  # stretched to 4x4
    mask = _solid(7, 5, 1.0)
    notes = resize_notes(bg, fg, mask, near_left, 0.5)
    assert notes == [
        "The mask was 7x5 and the foreground 2x2: the mask was resized to match.",
        "The background depth map was 2x1 and the background 4x4: the background depth map was resized to match.",
    ]
    assert resize_notes(bg, fg, _solid(2, 2, 1.0), torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2, 2)) == []


def test_an_unknown_blend_mode_is_quoted_short():
    with pytest.raises(InvalidInputError) as err:
        composite(_solid(4, 4, 0.0), _solid(2, 2, 1.0), blend_mode="x" * 100_000)
    assert "Unknown blend mode 'xxx" in str(err.value) and len(str(err.value)) < 300
