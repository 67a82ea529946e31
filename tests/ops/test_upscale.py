"""upscale(): exact output sizes, alpha, grayscale, 16-bit, metadata, limits and errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core.errors import ImageTooLargeError, InvalidInputError
from core.image import ImageData
from models.adapters import ModuleUpscaler
from models.catalog import get_spec
from models.loaders import load_model
from models.registry import Builtin, ModelSpec, Task
from ops.upscale import target_size, upscale

CPU = torch.device("cpu")


def _tiny_x2() -> ModuleUpscaler:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2), nn.Sigmoid()).eval()
    spec = ModelSpec(
        id="tiny-x2",
        task=Task.UPSCALE,
        title="tiny x2",
        description="test",
        license="n/a",
        source=Builtin(),
        loader="test",
        scale=2,
    )
    return ModuleUpscaler(spec, CPU, torch.float32, net)


class _Nearest2x(nn.Module):
    """A 'model' whose output is known exactly: nearest-neighbour x2."""

    def forward(self, x):
        return x.repeat_interleave(2, -1).repeat_interleave(2, -2)


def _nearest_x2() -> ModuleUpscaler:
    spec = ModelSpec(
        id="nearest-x2",
        task=Task.UPSCALE,
        title="nn x2",
        description="test",
        license="n/a",
        source=Builtin(),
        loader="test",
        scale=2,
    )
    return ModuleUpscaler(spec, CPU, torch.float32, _Nearest2x())


@pytest.fixture(scope="module")
def bicubic():
    return load_model(get_spec("bicubic"), CPU, torch.float32)


def _image(h=10, w=14, **kw) -> ImageData:
    torch.manual_seed(1)
    return ImageData(torch.rand(1, 3, h, w), **kw)


@pytest.mark.parametrize("scale", [1, 1.5, 2, 3, 4, 8])
def test_sizes_bicubic(bicubic, scale):
    img = _image(7, 9)
    out = upscale(img, bicubic, scale)
    assert out.size == target_size(9, 7, scale) == (math.floor(9 * scale + 0.5), math.floor(7 * scale + 0.5))
    assert out.rgb.dtype == torch.float32 and 0 <= out.rgb.min() and out.rgb.max() <= 1


@pytest.mark.parametrize("scale", [1, 1.5, 2, 3, 4, 8])
def test_sizes_learned_x2(scale):
    img = _image(7, 9)
    out = upscale(img, _tiny_x2(), scale, tile=4, overlap=2)
    assert out.size == target_size(9, 7, scale) == (math.floor(9 * scale + 0.5), math.floor(7 * scale + 0.5))


def test_scale_one_with_bicubic_is_identity(bicubic):
    img = _image()
    assert torch.equal(upscale(img, bicubic, 1).rgb, img.rgb)


def test_native_scale_is_the_model_output():
    img = _image(6, 8)
    out = upscale(img, _nearest_x2(), 2)
    assert torch.equal(out.rgb, img.rgb.repeat_interleave(2, -1).repeat_interleave(2, -2))


def test_target_size_rounding():
    assert target_size(9, 7, 1.5) == (14, 11)  # halves round up: 13.5 -> 14 and 10.5 -> 11
    # Python's round() took halves to the even side: 3 px at x1.5 gave 4 while 5 px gave 8
    assert [target_size(n, n, 1.5)[0] for n in (3, 5)] == [5, 8]
    assert target_size(1, 1, 1.2) == (1, 1)


def test_half_transparent_stays_half_transparent(bicubic):
    img = _image(alpha=torch.full((1, 1, 10, 14), 0.5))
    for model in (bicubic, _tiny_x2()):
        out = upscale(img, model, 2)
        assert out.alpha is not None and out.alpha.shape == (1, 1, 20, 28)
        assert torch.allclose(out.alpha, torch.full_like(out.alpha, 0.5))


def test_varying_alpha_goes_through_the_model():
    alpha = torch.zeros(1, 1, 6, 8)
    alpha[..., :, 4:] = 1.0
    out = upscale(_image(6, 8, alpha=alpha), _nearest_x2(), 2)
    assert torch.equal(out.alpha, alpha.repeat_interleave(2, -1).repeat_interleave(2, -2))


def test_transparent_colours_do_not_bleed_dark(bicubic):
    rgb = torch.ones(1, 3, 8, 8)
    rgb[..., :, :4] = 0.0  # black hidden under fully transparent pixels
    alpha = torch.zeros(1, 1, 8, 8)
    alpha[..., :, 4:] = 1.0
    out = upscale(ImageData(rgb, alpha), bicubic, 2)
    visible = out.alpha[0, 0] > 0.05  # includes the soft edge, where hidden black would show
    assert out.rgb[0][:, visible].min() > 0.99


def test_grayscale_flag_and_equal_channels():
    img = ImageData(torch.rand(1, 1, 6, 8).expand(1, 3, 6, 8).contiguous(), grayscale=True)
    out = upscale(img, _tiny_x2(), 2)
    assert out.grayscale
    assert torch.equal(out.rgb[:, 0], out.rgb[:, 1]) and torch.equal(out.rgb[:, 0], out.rgb[:, 2])


def test_16bit_and_metadata_kept(bicubic):
    img = _image(bit_depth=16, exif=b"Exif\x00\x00MM", icc_profile=b"icc-bytes")
    out = upscale(img, bicubic, 1.5)
    assert out.bit_depth == 16 and out.exif == img.exif and out.icc_profile == img.icc_profile
    # a float pipeline: values finer than 1/255 survive
    smooth = ImageData(torch.linspace(0, 0.01, 64).view(1, 1, 1, 64).expand(1, 3, 4, 64).contiguous(), bit_depth=16)
    vals = upscale(smooth, bicubic, 2).rgb.unique()
    assert len(vals) > 20


@pytest.mark.parametrize("bad", [0, 0.5, 8.5, -2, float("nan"), float("inf"), "x"])
def test_bad_scale(bicubic, bad):
    with pytest.raises(InvalidInputError):
        upscale(_image(), bicubic, bad)


def test_output_limit(bicubic):
    with pytest.raises(ImageTooLargeError, match="limit"):
        upscale(_image(100, 100), bicubic, 4, max_output_pixels=100_000)
    assert upscale(_image(100, 100), bicubic, 3, max_output_pixels=100_000).size == (300, 300)


def test_progress_reports_colour_then_transparency():
    seen = []
    alpha = torch.rand(1, 1, 12, 12)
    upscale(_image(12, 12, alpha=alpha), _tiny_x2(), 2, tile=8, overlap=4, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert seen[0][1].startswith("colour") and seen[-1][1].startswith("transparency")


def test_tile_zero_means_automatic_and_a_negative_tile_is_refused():
    img = _image(40, 24)
    auto, zero = [], []
    a = upscale(img, _tiny_x2(), 2, tile=None, progress=lambda f, m: auto.append(m))
    b = upscale(img, _tiny_x2(), 2, tile=0, progress=lambda f, m: zero.append(m))
    assert torch.equal(a.rgb, b.rgb)
    assert zero == auto and len(zero) == 1  # one tile, not one per pixel
    with pytest.raises(InvalidInputError, match="Tile size"):
        upscale(img, _tiny_x2(), 2, tile=-3)


def test_lanczos_resample_is_pils_filter_plane_by_plane():
    """Each plane of a batch goes through PIL's Lanczos-3 and lands back in its own place."""
    import numpy as np
    from PIL import Image

    from core.imaging import resample

    x = torch.rand(2, 4, 9, 13, generator=torch.Generator().manual_seed(3))
    out = resample(x, (20, 31), "lanczos")
    assert out.shape == (2, 4, 20, 31)
    for i in range(2):
        for j in range(4):
            ref = Image.fromarray(x[i, j].numpy(), mode="F").resize((31, 20), Image.Resampling.LANCZOS)
            expect = torch.from_numpy(np.array(ref)).clamp(0, 1)
            assert torch.equal(out[i, j], expect), (i, j)


def test_a_network_runs_channels_last_with_the_same_pixels():
    """ModuleUpscaler turns the network channels-last (oneDNN's fast layout) and hands back a contiguous tensor
    equal to what the network gives in the default layout."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 12, 3, padding=1), nn.PixelShuffle(2))
    x = torch.rand(1, 3, 20, 24)
    with torch.inference_mode():
        ref = net(x).clamp(0, 1)
    model = _tiny_x2()
    model = ModuleUpscaler(model.spec, CPU, torch.float32, net.eval())
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)
    out = model(x)
    assert out.is_contiguous() and out.shape == (1, 3, 40, 48)
    assert (out - ref).abs().max().item() < 1e-5


def test_automatic_cpu_tiles_stay_small_enough_for_the_cache():
    """On a CPU the automatic tile is at most CPU_MAX_TILE input pixels (tiles of one whole 512 px image ran
    Ganvas SR x2 at half the speed), and the tiles are equal, not one full and one shifted back."""
    from ops.upscale import CPU_MAX_TILE

    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape[-2:]))
            return x.repeat_interleave(2, -1).repeat_interleave(2, -2)

    model = ModuleUpscaler(_nearest_x2().spec, CPU, torch.float32, Spy())
    x = torch.rand(1, 3, 600, 500)
    out = upscale(ImageData(rgb=x), model, 2)
    assert out.rgb.shape[-2:] == (1200, 1000)
    assert max(max(s) for s in seen) <= CPU_MAX_TILE and len(set(seen)) == 1
    assert torch.allclose(out.rgb, x.repeat_interleave(2, -1).repeat_interleave(2, -2), atol=1e-6)
