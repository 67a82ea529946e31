"""The benchmark's own measures behave as their definitions say (they judge the shipped models), and each
benchmark starts as the README runs it."""

import subprocess
import sys

import pytest
import torch

from bench import bench_generate as bench


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "bench_composite",
        "bench_cutout_speed",
        "bench_generate",
        "bench_generator_speed",
        "bench_inpaint",
        "bench_upscale",
    ],
)
def test_each_benchmark_runs_as_a_module(name):
    """``python -m bench.<name>`` from the repository root, as the README says (and as the benchmarks start their
    own per-model workers): its --help answers."""
    cmd = [sys.executable, "-m", f"bench.{name}", "--help"]
    proc = subprocess.run(cmd, cwd=bench.ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_recall_is_full_for_the_real_set_and_low_for_a_collapsed_one():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(200, 16, generator=gen)
    other = torch.randn(200, 16, generator=gen)  # the same distribution: a generator as varied as the data
    collapsed = real[:3].repeat(67, 1)[:200] + 0.01 * torch.randn(200, 16, generator=gen)  # three modes only
    assert bench.recall(real, real) == 1.0
    assert bench.recall(real, other) > 0.6
    assert bench.recall(real, collapsed) < 0.05


def test_recall_per_class_compares_at_equal_sizes_against_a_real_reference():
    gen = torch.Generator().manual_seed(1)
    centres = torch.randn(2, 8, generator=gen) * 10
    y_real = torch.tensor([0] * 60 + [1] * 20)
    real = centres[y_real] + torch.randn(80, 8, generator=gen)
    y_fake = torch.tensor([0, 1] * 25)
    fake = centres[y_fake] + torch.randn(50, 8, generator=gen)
    fake[y_fake == 1] = centres[1]  # class 1 collapsed onto one point
    ref, rec = bench.recall_per_class(real, y_real, fake, y_fake, 2)
    assert ref[0] > 0.6 and rec[0] > 0.6  # class 0: as varied as the real one
    assert ref[1] > 0.6 and rec[1] < 0.2  # class 1: real reference high, the collapsed generator low


def test_nearest_distance_is_zero_for_copies_and_grows_with_the_difference():
    gen = torch.Generator().manual_seed(2)
    train = torch.rand(40, 3, 64, 64, generator=gen)
    copies = train[[3, 17, 29]].clone()
    unseen = torch.rand(3, 3, 64, 64, generator=gen)
    near = (train[[5]] + 0.1).clamp(0, 1)
    d = bench.nearest_distance(torch.cat([copies, unseen, near]), train, chunk=2)
    assert d.shape == (7,)
    assert torch.allclose(d[:3], torch.zeros(3), atol=1e-3)
    assert (d[3:6] > 0.1).all()  # random images lie far from every train image (at 32 px, std ~0.14)
    assert 0.0 < d[6] < d[3:6].min()  # a brightened train image lies between


def test_generator_flops_count_every_layer_of_the_network():
    """The generator benchmark's FLOPs are the network's: a small DCGAN's three transposed convolutions (the first
    from a 1x1 map), 2 x input pixels x in x out x 16 each, whatever path the adapter runs."""
    from bench.bench_generator_speed import flops_per_sample
    from models.archs.dcgan import DCGANGenerator
    from models.catalog import get_spec
    from models.generators import DcganGenerator

    net = DCGANGenerator(z_dim=8, channels=4, output_size=16).eval()
    gen = DcganGenerator(get_spec("dcgan-faces"), torch.device("cpu"), torch.float32, net)
    expected = 2 * 16 * (1 * 8 * 8 + 16 * 8 * 4 + 64 * 4 * 3)
    assert flops_per_sample(gen) == expected
    assert gen.synthesize(torch.randn(2, 8), None).shape == (2, 4, 16, 16)


def test_cutout_flops_are_counted_on_the_plain_path():
    """PyTorch's FLOP counter does not see oneDNN's fused convolutions, so the cut-out benchmark counts a network
    with autograd recording, where every layer is plain: all of U²-Net's convolutions, as forward hooks count
    them (2 x output values x inputs per output)."""
    from bench.bench_cutout_speed import flops
    from models.archs import u2net

    net = u2net.build({"variant": "u2netp"}).eval().requires_grad_(False)
    x = torch.rand(1, 3, 64, 64)
    hooked = 0

    def count(module, _inputs, output):
        nonlocal hooked
        kh, kw = module.kernel_size
        hooked += 2 * output.numel() * (module.in_channels // module.groups) * kh * kw

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]

    def plain():
        with torch.enable_grad():
            net(x)

    counted = flops(plain)
    for h in hooks:
        h.remove()
    assert hooked > 0 and counted == hooked
