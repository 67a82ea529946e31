"""The shared inpainting pipeline: mask preparation, strategies, feathering, pixel preservation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import InvalidInputError
from core.image import ImageData, to_numpy
from models.adapters import Inpainter
from models.registry import Builtin, ModelSpec, Task
from ops.inpaint import STRATEGIES, inpaint, prepare_mask

FILL = 0.25


class FakeInpainter(Inpainter):
    """Fills the mask with a constant and records every input size it was called with."""

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(image.shape[-2:]))
        assert tuple(mask.shape[-2:]) == tuple(image.shape[-2:])
        return torch.where(mask > 0.5, torch.full_like(image, FILL), image)


def fake(size_multiple: int = 1, min_size: int = 1) -> FakeInpainter:
    spec = ModelSpec(
        id="fake",
        task=Task.INPAINT,
        title="Fake",
        description="test double",
        license="n/a",
        source=Builtin(),
        loader="fake",
        size_multiple=size_multiple,
        min_size=min_size,
    )
    model = FakeInpainter(spec, torch.device("cpu"), torch.float32)
    model.calls = []
    return model


def noise_image(w: int, h: int, seed: int = 0, alpha: bool = False) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(1, 3, h, w, generator=g)
    a = torch.rand(1, 1, h, w, generator=g) if alpha else None
    return ImageData(rgb, a)


def box_mask(w: int, h: int, x0: int, y0: int, x1: int, y1: int) -> torch.Tensor:
    m = torch.zeros(1, 1, h, w)
    m[..., y0:y1, x0:x1] = 1
    return m


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_outside_mask_bit_identical(strategy):
    img = noise_image(96, 64)
    m = box_mask(96, 64, 30, 20, 50, 40)
    res = inpaint(img, m, fake(size_multiple=8), strategy=strategy, margin=8, resize_limit=48)
    out = res.image.rgb
    outside = (m == 0).expand_as(out)
    assert torch.equal(out[outside], img.rgb[outside])
    assert np.array_equal(to_numpy(res.image)[m[0, 0].numpy() == 0], to_numpy(img)[m[0, 0].numpy() == 0])
    assert not torch.equal(out, img.rgb)


def test_crop_strategy_only_runs_on_crops_of_a_big_image():
    w, h = 2000, 1500
    img = ImageData(torch.full((1, 3, h, w), 0.6))
    m = box_mask(w, h, 1000, 700, 1020, 730)
    model = fake(size_multiple=8)
    res = inpaint(img, m, model, strategy="crop", margin=32)
    assert model.calls == [(96, 88)]  # (30+64, 20+64) padded up to multiples of 8
    diff = (res.image.rgb != img.rgb).any(dim=1)[0]
    assert torch.equal(diff, m[0, 0] > 0)
    assert torch.allclose(res.image.rgb[..., 700:730, 1000:1020], torch.tensor(FILL))


def test_crop_strategy_merges_overlapping_regions_and_keeps_separate_ones_apart():
    w, h = 400, 200
    img = noise_image(w, h)
    m = box_mask(w, h, 10, 10, 20, 20) + box_mask(w, h, 30, 10, 40, 20) + box_mask(w, h, 300, 150, 310, 160)
    model = fake()
    res = inpaint(img, m, model, strategy="crop", margin=10)
    # Regions 1 and 2 (10 px apart) overlap once each grows by 10 px; region 3 stays alone.
    assert sorted(model.calls) == [(30, 30), (30, 50)]
    assert torch.equal((res.image.rgb != img.rgb).any(dim=1)[0], m[0, 0] > 0)


def test_crop_clipped_at_image_border():
    img = noise_image(64, 48)
    model = fake()
    inpaint(img, box_mask(64, 48, 0, 0, 5, 5), model, strategy="crop", margin=10)
    assert model.calls == [(15, 15)]


def test_resize_strategy_caps_the_long_side():
    w, h = 300, 200
    img = noise_image(w, h)
    m = box_mask(w, h, 100, 80, 160, 120)
    model = fake()
    res = inpaint(img, m, model, strategy="resize", resize_limit=100)
    assert model.calls == [(67, 100)]
    assert torch.equal((res.image.rgb != img.rgb).any(dim=1)[0], m[0, 0] > 0)
    # The constant fill survives the bicubic round trip away from the hole's edge.
    assert torch.allclose(res.image.rgb[..., 90:110, 110:150], torch.tensor(FILL), atol=1e-3)
    assert any("scaled back up" in n for n in res.notices)


def test_resize_keeps_thin_strokes_in_the_small_mask():
    w, h = 400, 400
    img = ImageData(torch.full((1, 3, h, w), 0.8))
    m = box_mask(w, h, 0, 201, w, 202)  # one pixel high: nearest downscaling would drop it
    res = inpaint(img, m, fake(), strategy="resize", resize_limit=100)
    assert float(res.image.rgb[0, 0, 201, 200]) < 0.7


def test_original_strategy_runs_once_on_full_image_with_padding():
    img = noise_image(50, 30)
    model = fake(size_multiple=8, min_size=40)
    inpaint(img, box_mask(50, 30, 1, 1, 3, 3), model, strategy="original")
    assert model.calls == [(40, 56)]


def test_feather_blends_inward_only():
    w, h = 60, 40
    img = ImageData(torch.full((1, 3, h, w), 1.0))
    m = box_mask(w, h, 10, 10, 50, 30)
    res = inpaint(img, m, fake(), strategy="original", feather=4)
    out = res.image.rgb[0, 0]
    assert torch.equal(out[m[0, 0] == 0], torch.ones(int((m == 0).sum())))
    # Distance 1 inside the edge: weight 1/4 -> 0.75*1 + 0.25*FILL.
    assert out[20, 10].item() == pytest.approx(0.75 + 0.25 * FILL, abs=1e-6)
    assert out[20, 11].item() == pytest.approx(0.5 + 0.5 * FILL, abs=1e-6)
    assert FILL < out[20, 12].item() < 1
    assert out[20, 30].item() == pytest.approx(FILL)


def test_feather_in_tight_crops_matches_full_image():
    img = noise_image(80, 60, seed=3)
    m = box_mask(80, 60, 10, 10, 30, 25) + box_mask(80, 60, 50, 30, 75, 60)
    full = inpaint(img, m, fake(), strategy="original", feather=5)
    crops = inpaint(img, m, fake(), strategy="crop", margin=0, feather=5)
    assert torch.allclose(crops.image.rgb, full.image.rgb, atol=1e-6)


def test_mask_size_mismatch_is_resized_with_notice():
    img = noise_image(40, 30)
    small = box_mask(20, 15, 5, 5, 10, 10)
    m, notices = prepare_mask(small, img.size)
    assert m.shape == (1, 1, 30, 40)
    assert int(m.sum()) == 10 * 10
    assert notices == ["The mask was 20x15 and the image 40x30: the mask was resized to match."]


def test_empty_mask_returns_input_with_notice():
    img = noise_image(20, 10)
    model = fake()
    res = inpaint(img, torch.zeros(1, 1, 10, 20), model)
    assert res.image is img
    assert model.calls == []
    assert res.notices == ["The mask is empty: the image is returned unchanged."]


def test_a_mask_over_the_whole_image_is_refused_before_any_model_runs():
    """Nothing surrounds such a hole: the learned models returned a black picture as a success, Telea the input."""
    img = noise_image(20, 10)
    model = fake()
    with pytest.raises(InvalidInputError, match="covers the whole image: .*Mark only what should go"):
        inpaint(img, torch.ones(1, 1, 10, 20), model)
    small = torch.zeros(1, 1, 10, 20)
    small[..., 5, 10] = 1
    with pytest.raises(InvalidInputError, match="whole image once grown by 30 px"):
        inpaint(img, small, model, dilate=30)
    assert model.calls == []
    almost = torch.ones(1, 1, 10, 20)
    almost[..., 0, 0] = 0  # one pixel left to fill from is enough
    assert inpaint(img, almost, model).image.size == (20, 10)


def test_dilation_grows_by_euclidean_radius():
    m = torch.zeros(1, 1, 21, 21)
    m[..., 10, 10] = 1
    d, _ = prepare_mask(m, (21, 21), dilate=3)
    yy, xx = torch.meshgrid(torch.arange(21), torch.arange(21), indexing="ij")
    disc = ((yy - 10) ** 2 + (xx - 10) ** 2 <= 9).float()
    assert torch.equal(d[0, 0], disc)
    rect, _ = prepare_mask(box_mask(30, 30, 10, 10, 20, 20), (30, 30), dilate=2)
    rows = rect[0, 0].any(dim=1).nonzero()
    assert (int(rows.min()), int(rows.max())) == (8, 21)


def test_mask_from_rgba_layer_uses_alpha_and_plain_mask_uses_luminance():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[1, 2] = (0, 0, 0, 30)  # dark but painted: counts
    m, _ = prepare_mask(rgba, (4, 4))
    assert m[0, 0].nonzero().tolist() == [[1, 2]]
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, 0] = (255, 255, 255)
    rgb[3, 3] = (0, 0, 255)  # luminance 0.114: not masked
    m, _ = prepare_mask(rgb, (4, 4))
    assert m[0, 0].nonzero().tolist() == [[0, 0]]
    opaque = np.full((4, 4, 4), 255, np.uint8)
    opaque[..., :3] = 0
    opaque[2, 1, :3] = 255
    m, _ = prepare_mask(opaque, (4, 4))
    assert m[0, 0].nonzero().tolist() == [[2, 1]]


def test_alpha_kept_outside_and_grayscale_kept():
    img = noise_image(32, 32, alpha=True)
    mask = box_mask(32, 32, 8, 8, 16, 16)
    res = inpaint(img, mask, fake(), margin=4)
    outside = mask[0, 0] < 0.5
    assert torch.equal(res.image.alpha[0, 0][outside], img.alpha[0, 0][outside])
    gray = ImageData(torch.rand(1, 1, 16, 16).expand(1, 3, -1, -1).contiguous(), grayscale=True, bit_depth=16)

    class Tinted(FakeInpainter):
        def __call__(self, image, mask):
            return torch.tensor([0.3, 0.6, 0.9]).view(1, 3, 1, 1).expand_as(image).clone()

    model = Tinted(fake().spec, torch.device("cpu"), torch.float32)
    res = inpaint(gray, box_mask(16, 16, 4, 4, 8, 8), model, strategy="original")
    assert res.image.grayscale and res.image.bit_depth == 16
    assert torch.allclose(res.image.rgb[..., 5, 5], torch.tensor(0.6))


def test_progress_reports_each_region():
    seen = []
    m = box_mask(200, 50, 5, 5, 10, 10) + box_mask(200, 50, 150, 5, 160, 10)
    inpaint(noise_image(200, 50), m, fake(), margin=4, progress=lambda f, msg: seen.append(f))
    assert seen == [0.0, 0.5, 1.0]


def test_bad_parameters_raise():
    img = noise_image(8, 8)
    with pytest.raises(InvalidInputError):
        inpaint(img, torch.ones(1, 1, 8, 8), fake(), strategy="tile")
    with pytest.raises(InvalidInputError):
        prepare_mask(torch.ones(2, 2, 8, 8), (8, 8))


def test_telea_fills_a_gradient_hole_plausibly():
    from models.catalog import get_spec
    from models.loaders import load_model

    h, w = 48, 64
    ramp = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(1, 3, h, w).contiguous()
    hole = box_mask(w, h, 28, 20, 36, 28)
    damaged = ImageData(torch.where(hole > 0, torch.zeros_like(ramp), ramp))
    model = load_model(get_spec("telea"), torch.device("cpu"), torch.float32)
    res = inpaint(damaged, hole, model, strategy="crop", margin=16)
    inside = (hole > 0).expand_as(ramp)
    err = (res.image.rgb[inside] - ramp[inside]).abs()
    assert float(err.max()) < 0.04  # the zeros were 0.44..0.56: the fill follows the ramp
    assert torch.equal(res.image.rgb[~inside], ramp[~inside])


def test_shift_map_rebuilds_a_texture_that_telea_blurs():
    """A checkerboard with a hole: shift-map copies squares in from the rest of the board, so the hole keeps
    full contrast and nearly every pixel right; Telea's diffusion leaves grey in the middle."""
    from models.catalog import get_spec
    from models.loaders import load_model

    h, w, sq = 96, 128, 8
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    board = ((yy // sq + xx // sq) % 2).float().expand(1, 3, h, w).contiguous() * 0.8 + 0.1
    hole = box_mask(w, h, 44, 36, 76, 60)
    inside = (hole > 0).expand_as(board)
    fills = {}
    for model_id in ("shift-map", "telea"):
        model = load_model(get_spec(model_id), torch.device("cpu"), torch.float32)
        res = inpaint(ImageData(torch.where(inside, 0.5, board)), hole, model, strategy="original")
        assert torch.equal(res.image.rgb[~inside], board[~inside])
        fills[model_id] = res.image.rgb[inside]
    right = lambda f: float(((f - board[inside]).abs() < 0.1).float().mean())  # noqa: E731
    assert right(fills["shift-map"]) > 0.95
    assert float(fills["shift-map"].std()) > 0.35  # the squares' contrast (0.1 vs 0.9), not a blur
    assert right(fills["telea"]) < 0.8 and float(fills["telea"].std()) < float(fills["shift-map"].std())


def test_shift_map_leaves_an_image_without_a_hole_alone():
    """Straight to the model (ops returns early on an empty mask): xphoto would crash the process."""
    from models.catalog import get_spec
    from models.loaders import load_model

    model = load_model(get_spec("shift-map"), torch.device("cpu"), torch.float32)
    img = noise_image(20, 16).rgb
    assert torch.equal(model(img, torch.zeros(1, 1, 16, 20)), img)


def test_shift_map_without_opencv_contrib_says_how_to_fix_it(monkeypatch):
    """Another package's plain OpenCV build installed over the contrib one: a clear error, not a crash."""
    import cv2

    from core.errors import WeightsUnavailableError
    from models.catalog import get_spec
    from models.loaders import load_model

    monkeypatch.delattr(cv2, "xphoto")
    with pytest.raises(WeightsUnavailableError, match="opencv-contrib-python-headless"):
        load_model(get_spec("shift-map"), torch.device("cpu"), torch.float32)
    load_model(get_spec("telea"), torch.device("cpu"), torch.float32)  # the other classical fills still load


# ----------------------------------------------------------------------------- the tab's inputs


def _editor(path, painted_box=None, size=(40, 30)):
    """An ImageEditor value as gradio (type="numpy") hands it over: RGBA background and mask layer."""
    from PIL import Image

    bg = np.asarray(Image.open(path).convert("RGBA"))
    layer = np.zeros((size[1], size[0], 4), np.uint8)
    if painted_box:
        y0, y1, x0, x1 = painted_box
        layer[y0:y1, x0:x1] = 255
    return {"background": bg, "layers": [layer], "composite": bg}


def test_tab_inpaints_the_photo_file_not_the_editor_copy(tmp_path):
    from PIL import Image

    from ui.inpaint import inpaint_inputs

    deep = (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    Image.fromarray((deep >> 8).astype(np.uint8)).save(tmp_path / "eight.png")  # what the browser sends
    image, mask = inpaint_inputs(str(tmp_path / "deep.png"), _editor(tmp_path / "eight.png", (5, 10, 5, 20)), None)
    assert image.bit_depth == 16 and image.size == (40, 30)
    m = to_numpy(mask)
    assert m[5:10, 5:20].min() == 255 and m.sum() == 255 * 5 * 15
    # the editor showing another picture (a blank canvas where the browser could not draw the photo, or an API
    # caller's): the photo is still what gets inpainted, never the canvas (a blank white 800x800 result)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "other.png")
    other = {"background": np.full((800, 800, 4), 255, np.uint8), "layers": [], "composite": None}
    image, _ = inpaint_inputs(str(tmp_path / "deep.png"), other, str(tmp_path / "other.png"))
    assert image.size == (40, 30) and image.bit_depth == 16
    # no editor value at all: the photo and an uploaded mask are enough
    Image.fromarray(np.full((30, 40), 255, np.uint8)).save(tmp_path / "full.png")
    image, _ = inpaint_inputs(str(tmp_path / "deep.png"), None, str(tmp_path / "full.png"))
    assert image.bit_depth == 16


def test_tab_inputs_say_what_is_missing(tmp_path):
    from PIL import Image

    from ui.inpaint import inpaint_inputs

    with pytest.raises(InvalidInputError, match="upload a photo"):
        inpaint_inputs(None, None, None)
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "p.png")
    with pytest.raises(InvalidInputError, match="Paint over"):
        inpaint_inputs(str(tmp_path / "p.png"), _editor(tmp_path / "p.png"), None)  # an untouched mask layer


def test_the_hole_takes_its_transparency_from_the_surroundings():
    photo = noise_image(40, 30, alpha=True)
    photo.alpha.fill_(1.0)
    photo.alpha[..., 10:20, 12:24] = 0  # erased earlier: a transparent hole in an opaque photo
    mask = box_mask(40, 30, 12, 10, 24, 20)
    res = inpaint(photo, mask, fake(), strategy="crop", margin=8)
    assert torch.all(res.image.alpha == 1)  # the fill is visible
    sticker = noise_image(40, 30, alpha=True)
    sticker.alpha.zero_()
    sticker.alpha[..., 5:25, 20:38] = 1
    res = inpaint(sticker, box_mask(40, 30, 2, 2, 10, 10), fake(), strategy="crop", margin=8)
    assert torch.equal(res.image.alpha, sticker.alpha)  # a hole in the transparent background stays transparent
    soft = noise_image(40, 30, alpha=True)
    res = inpaint(soft, box_mask(40, 30, 15, 10, 25, 20), fake(), strategy="crop", margin=8)
    inside = res.image.alpha[..., 10:20, 15:25]
    around = torch.zeros(30, 40, dtype=torch.bool)
    around[7:23, 12:28] = True
    around[10:20, 15:25] = False
    ring = soft.alpha[0, 0][around]  # NS fills with values between those around the hole
    assert float(inside.min()) >= float(ring.min()) - 1e-6 and float(inside.max()) <= float(ring.max()) + 1e-6


def test_auto_sends_textured_surroundings_to_the_patch_fill_and_the_rest_to_the_network():
    from models.adapters import AutoInpainter, surroundings_texture
    from models.catalog import get_spec
    from models.loaders import load_model

    spec = get_spec("auto")
    cpu = torch.device("cpu")
    auto = load_model(spec, cpu, torch.float32)
    assert (
        isinstance(auto, AutoInpainter)
        and auto.param_count() == load_model(get_spec(spec.params["smooth"]), cpu, torch.float32).param_count()
    )
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 96), indexing="ij")
    smooth = torch.stack([xx, yy, 1 - xx])[None]  # a sky-like gradient
    checker = ((torch.arange(96)[:, None] // 3 + torch.arange(96)[None] // 3) % 2).float()
    textured = (0.2 + 0.6 * checker + 0.05 * torch.rand(96, 96, generator=g)).expand(1, 3, 96, 96).contiguous()
    hole = box_mask(96, 96, 36, 36, 60, 60)
    assert surroundings_texture(smooth, hole) < spec.params["threshold"] < surroundings_texture(textured, hole)
    for image, want in ((smooth, spec.params["smooth"]), (textured, spec.params["textured"])):
        res = inpaint(ImageData(image), hole, auto, strategy="original")
        assert auto.last_choice == want
        outside = hole[0, 0] < 0.5
        assert torch.equal(res.image.rgb[0][:, outside], image[0][:, outside])
    filled = inpaint(ImageData(textured), hole, auto, strategy="original").image.rgb
    right = textured[..., 36:60, 36:60]
    assert (filled[..., 36:60, 36:60] - right).abs().mean() < 0.1  # the checkerboard goes on across the hole
    big = torch.nn.functional.interpolate(textured, size=(720, 720), mode="nearest")
    assert auto.choose(big, torch.nn.functional.interpolate(hole, size=(720, 720))) is auto.smooth  # too big
    alone = AutoInpainter(spec, auto.smooth, None)  # OpenCV without its contrib modules
    assert alone.choose(textured, hole) is auto.smooth
