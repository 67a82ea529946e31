"""Cut-outs: boxes read and checked, the matte grown and feathered, the edge colours solved for the object's."""

from __future__ import annotations

import pytest
import torch

import ops.cutout as cutout_ops
from core.errors import InvalidInputError
from core.image import ImageData
from models.adapters import Matter
from models.catalog import get_spec
from ops.cutout import Refine, check_box, cutout, decontaminate, grow_matte, matte, matte_image, parse_box


class DiscMatter(Matter):
    """Alpha 1 on a centred disc of the image it is given; records what it was given."""

    def __init__(self) -> None:
        super().__init__(get_spec("grabcut"), torch.device("cpu"), torch.float32)
        self.calls = []

    def __call__(self, image, box=None):
        self.calls.append((tuple(image.shape), box))
        h, w = image.shape[-2:]
        yy, xx = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij")
        return ((yy**2 + xx**2) <= (min(h, w) / 3) ** 2).float()[None, None]


def test_parse_box_reads_four_whole_numbers():
    assert parse_box("10, 20,30,40") == (10, 20, 30, 40)
    for bad in ("10,20,30", "a,b,c,d", "1.5,2,3,4", ""):
        with pytest.raises(InvalidInputError, match="four whole numbers"):
            parse_box(bad)


def test_check_box_clips_and_refuses_empty_or_outside():
    assert check_box((-5, -5, 20, 20), 10, 10) == (0, 0, 10, 10)
    with pytest.raises(InvalidInputError, match="outside the 10x10 image"):
        check_box((10, 0, 5, 5), 10, 10)
    with pytest.raises(InvalidInputError, match="at least 1 pixel"):
        check_box((0, 0, 0, 5), 10, 10)


def test_refine_limits():
    with pytest.raises(InvalidInputError, match="Grow"):
        Refine(grow=1000)
    with pytest.raises(InvalidInputError, match="Feather"):
        Refine(feather=-1)


def test_grow_and_shrink_by_a_disc():
    a = torch.zeros(1, 1, 21, 21)
    a[..., 8:13, 8:13] = 1
    assert int(grow_matte(a, 2).sum()) > 25 and bool(grow_matte(a, 2)[0, 0, 6, 10] == 1)
    assert int(grow_matte(a, -2).sum()) == 1  # a 5x5 square shrinks to its centre
    assert torch.equal(grow_matte(a, 0), a)


def test_decontaminate_recovers_the_object_colour_from_the_formula():
    h, w = 8, 40
    alpha = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(1, 1, h, w).contiguous()
    obj = torch.tensor([0.9, 0.2, 0.1]).view(1, 3, 1, 1)
    back = torch.tensor([0.1, 0.3, 0.9]).view(1, 3, 1, 1)
    seen = alpha * obj + (1 - alpha) * back
    out = decontaminate(seen, alpha)
    visible = (alpha >= 0.05).expand(1, 3, h, w)
    assert float((out - obj).abs()[visible].max()) < 1e-4
    # nothing of the old background is left where the pixel shows at all
    assert float((seen - obj).abs()[visible].max()) > 0.5


def _soft_disc(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A photo-like picture and a disc matte with a soft edge several pixels wide."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    r = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2).sqrt()
    alpha = ((min(h, w) / 3 - r) / 6 + 0.5).clamp(0, 1).view(1, 1, h, w)
    rgb = torch.stack([xx / w, yy / h, (xx + yy) / (w + h)]).view(1, 3, h, w).float()
    return rgb, alpha


def test_decontaminate_in_bands_equals_the_whole_picture_at_once(monkeypatch):
    rgb, alpha = _soft_disc(90, 70)
    whole = decontaminate(rgb, alpha)
    monkeypatch.setattr(cutout_ops, "BAND_PIXELS", 70 * 7)  # 7 rows a band, and a short last band
    assert torch.allclose(decontaminate(rgb, alpha), whole, atol=1e-6)
    monkeypatch.setattr(cutout_ops, "ESTIMATE_PIXELS", 90 * 70 // 9)  # estimates on a 3x coarser grid
    coarse = decontaminate(rgb, alpha)
    monkeypatch.setattr(cutout_ops, "BAND_PIXELS", 10**9)
    assert torch.allclose(decontaminate(rgb, alpha), coarse, atol=1e-6)


def test_rows_of_an_upsampled_grid_equal_the_whole_grid_upsampled():
    grid = torch.rand(1, 3, 7, 5)
    whole = torch.nn.functional.interpolate(grid, scale_factor=4, mode="bilinear", align_corners=False)
    for r0, r1 in ((0, 8), (8, 16), (12, 28), (24, 28)):
        assert torch.allclose(cutout_ops._upsample_rows(grid, 4, r0, r1, 18), whole[..., r0:r1, :18])


def test_decontaminate_on_a_coarse_grid_still_takes_the_background_out(monkeypatch):
    h, w = 64, 96
    _, alpha = _soft_disc(h, w)
    obj = torch.tensor([0.9, 0.2, 0.1]).view(1, 3, 1, 1)
    back = torch.tensor([0.1, 0.3, 0.9]).view(1, 3, 1, 1)
    seen = alpha * obj + (1 - alpha) * back
    monkeypatch.setattr(cutout_ops, "ESTIMATE_PIXELS", h * w // 16)  # 4x4 blocks
    out = decontaminate(seen, alpha)
    visible = (alpha >= 0.05).expand(1, 3, h, w)
    assert float((out - obj).abs()[visible].max()) < 1e-3


def test_cutout_is_rgba_of_the_input_size_with_the_matte_as_alpha():
    img = ImageData(rgb=torch.rand(1, 3, 30, 40))
    model = DiscMatter()
    cut = cutout(img, model, refine=Refine(decontaminate=False))
    assert cut.size == img.size and cut.alpha is not None
    assert torch.equal(cut.rgb, img.rgb)
    assert torch.equal(cut.alpha, model(img.rgb))
    assert float(cutout(img, model, refine=Refine(feather=2, decontaminate=False)).alpha.unique().numel()) > 2


def test_a_box_crops_the_work_to_the_box_with_a_margin_and_keeps_nothing_outside():
    img = ImageData(rgb=torch.rand(1, 3, 100, 120))
    model = DiscMatter()
    alpha = matte(img, model, (50, 40, 30, 20))
    shape, box = model.calls[-1]
    assert shape == (1, 3, 20 + 2 * 16, 30 + 2 * 16) and box == (16, 16, 30, 20)  # margin 16 each side
    assert float(alpha.sum()) > 0
    outside = torch.ones_like(alpha, dtype=torch.bool)
    outside[..., 40:60, 50:80] = False
    assert float(alpha[outside].abs().max()) == 0


def test_the_input_alpha_is_kept_and_the_mask_image_is_grey():
    a = torch.ones(1, 1, 30, 30)
    a[..., :, :5] = 0
    img = ImageData(rgb=torch.rand(1, 3, 30, 30), alpha=a)
    cut = cutout(img, DiscMatter())
    assert float(cut.alpha[..., :, :5].max()) == 0
    gray = matte_image(cut)
    assert gray.alpha is None and gray.grayscale and torch.equal(gray.rgb[:, :1], cut.alpha)


def test_a_box_that_is_no_box_is_quoted_short():
    """The box came back whole in the message: 100,000 characters for 100,000 sent (the bad-input suite)."""
    with pytest.raises(InvalidInputError) as err:
        parse_box("x" * 100_000)
    text = str(err.value)
    assert text.startswith("A box is four whole numbers X,Y,WIDTH,HEIGHT in pixels, not 'xxx") and len(text) < 200


class TwoBlobs(Matter):
    """Two separate objects, whatever region it is shown: a left and a right square of the given crop."""

    def __init__(self) -> None:
        super().__init__(get_spec("grabcut"), torch.device("cpu"), torch.float32)

    def __call__(self, image, box=None):
        h, w = image.shape[-2:]
        a = torch.zeros(1, 1, h, w)
        a[..., h // 4 : 3 * h // 4, w // 8 : 3 * w // 8] = 1
        a[..., h // 4 : 3 * h // 4, 5 * w // 8 : 7 * w // 8] = 1
        return a


def test_stroke_points_lie_along_the_middle_of_the_strokes():
    strokes = torch.zeros(1, 1, 60, 100)
    strokes[..., 20:31, 10:90] = 1  # a brush 11 px wide, drawn left to right
    pts = cutout_ops.stroke_points(strokes)
    assert pts.shape == (cutout_ops.STROKE_POINTS, 2)
    assert bool((pts[:, 1] >= 23).all() and (pts[:, 1] <= 27).all())  # the middle of the brush's width
    assert float(pts[:, 0].min()) < 20 and float(pts[:, 0].max()) > 80  # spread along the stroke
    assert cutout_ops.stroke_points(torch.zeros(1, 1, 10, 10)) is None
    upright = strokes.transpose(-1, -2).contiguous()  # the same stroke drawn top to bottom
    pts = cutout_ops.stroke_points(upright)
    assert float(pts[:, 1].min()) < 20 and float(pts[:, 1].max()) > 80
    assert bool((pts[1:, 1] > pts[:-1, 1]).all())  # in order along it, evenly, not column by column


def test_a_promptable_model_gets_the_strokes_as_points_in_its_crop():
    seen = {}

    class Prompted(Matter):
        takes_points = True

        def __init__(self) -> None:
            super().__init__(get_spec("grabcut"), torch.device("cpu"), torch.float32)

        def __call__(self, image, box=None, points=None):
            seen["points"], seen["size"] = points, image.shape[-2:]
            a = torch.zeros(1, 1, *image.shape[-2:])
            x, y, w, h = box
            a[..., y : y + h, x : x + w] = 1
            return a

    strokes = torch.zeros(1, 1, 100, 200)
    strokes[..., 48:53, 90:111] = 1
    cutout_ops.select_object(ImageData(rgb=torch.rand(1, 3, 100, 200)), Prompted(), strokes)
    x0 = 80 - cutout_ops.box_margin((80, 30, 40, 40))  # the crop starts a margin left of the region
    assert seen["points"] is not None and bool((seen["points"][:, 0] + x0 >= 90).all())
    assert bool((seen["points"][:, 0] + x0 <= 110).all())


def test_strokes_region_is_a_square_twice_the_strokes_around_them():
    strokes = torch.zeros(1, 1, 100, 200)
    strokes[..., 48:52, 90:110] = 1  # 20 wide, 4 high
    assert cutout_ops.strokes_region(strokes) == (80, 30, 40, 40)
    strokes[..., 0:2, 0:2] = 1  # a stroke at the corner: clipped to the image
    x, y, w, h = cutout_ops.strokes_region(strokes)
    assert (x, y) == (0, 0) and w <= 200 and h <= 100
    assert cutout_ops.strokes_region(torch.zeros(1, 1, 10, 10)) is None


def test_select_object_keeps_what_the_strokes_touch_grown():
    img = ImageData(rgb=torch.rand(1, 3, 80, 160))
    strokes = torch.zeros(1, 1, 80, 160)
    strokes[..., 40, 20:30] = 1  # on the left blob of the whole picture's matte, not the right one
    whole = cutout_ops.select_object(img, TwoBlobs(), None, grow=0)
    assert int(whole.sum()) == 2 * 40 * 40  # no strokes: the whole matte
    picked = cutout_ops.select_object(img, TwoBlobs(), strokes, grow=0)
    assert picked.max() == 1 and picked[..., :, 80:].max() == 0  # only the touched object, inside its region
    grown = cutout_ops.select_object(img, TwoBlobs(), strokes, grow=2)
    assert int(grown.sum()) > int(picked.sum())
