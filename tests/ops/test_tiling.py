"""Tiled inference: equals untiled output, blends seams, reports progress, backs off on OOM."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.errors import ImageTooLargeError, InvalidInputError, is_out_of_memory
from ops.tiling import _axis_plan, _tile_count_and_size, auto_tile_size, run_with_oom_backoff, tiled_apply


def _net_x2() -> nn.Module:
    """Three 3x3 convs (receptive radius 3 input pixels) and a PixelShuffle x2."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(8, 12, 3, padding=1),
        nn.PixelShuffle(2),
    ).eval()


@pytest.mark.parametrize("tile,window", [(24, "linear"), (29, "sine"), (40, "linear")])
def test_tiled_equals_untiled(tile, window):
    net = _net_x2()
    x = torch.rand(1, 3, 53, 67)
    with torch.no_grad():
        ref = net(x)
    out = tiled_apply(net, x, 2, tile=tile, overlap=16, window=window)
    assert out.shape == (1, 3, 106, 134)
    assert (out - ref).abs().max().item() < 1e-4


def test_hard_crop_would_show_seams_but_blend_does_not():
    net = _net_x2()
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        ref = net(x)
    # Without overlap, the zero padding at tile borders changes the output: the test can fail.
    seam = tiled_apply(net, x, 2, tile=20, overlap=0)
    assert (seam - ref).abs().max().item() > 1e-3
    assert (tiled_apply(net, x, 2, tile=32, overlap=16) - ref).abs().max().item() < 1e-4


def test_weights_partition_unity_and_zero_in_margin():
    plan = _axis_plan(100, 40, 16, 1, "linear")
    total = torch.zeros(100)
    for s, n, w in plan:
        total[s : s + n] += w
        assert n == 37  # four equal tiles of at most 40 with 16 px overlaps: ceil((100 + 3 * 16) / 4)
    assert torch.allclose(total, torch.ones(100), atol=1e-6)
    s, n, w = plan[1]
    assert w[:4].abs().max() == 0 and w[-4:].abs().max() == 0  # outer quarter of the overlap
    assert plan[0][2][0] == 1 and plan[-1][2][-1] == 1  # image borders: no ramp


@pytest.mark.parametrize("multiple", [1, 4, 8])
def test_axis_plan_covers_with_few_equal_tiles(multiple):
    for length in range(1, 300, 7):
        for tile in range(32, 200, 24):
            for overlap in (0, 8, 16):
                plan = _axis_plan(length, tile, overlap, 1, "linear", multiple)
                starts = [s for s, _n, _w in plan]
                sizes = {n for _s, n, _w in plan}
                assert len(sizes) == 1 and max(sizes) <= tile  # equal tiles, none above the size asked for
                size = sizes.pop()
                assert starts[0] == 0 and starts[-1] + size == length
                assert all(
                    b - a <= size - overlap for a, b in zip(starts, starts[1:], strict=False)
                )  # neighbours overlap
                n_min = 1 if length <= tile else -(-(length - overlap) // (tile - overlap))
                assert len(plan) == n_min
                # what runs is the image plus the overlaps, give or take the rounding to the multiple
                assert len(plan) * size <= length + (len(plan) - 1) * overlap + len(plan) * multiple


def test_tiles_are_balanced_not_shifted_back():
    # 512 px in tiles of 416: two of 264, where two of 416 (the second shifted back) ran 1.6x the pixels
    assert _tile_count_and_size(512, 416, 16) == (2, 264)
    assert _tile_count_and_size(1000, 416, 16, 8) == (3, 344)


def test_linear_ramp_formula():
    _s, _n, w = _axis_plan(56, 32, 8, 1, "linear")[0]  # two tiles: starts 0 and 24, overlap 8
    # margin 2 (outer quarter), ramp of 4 in the middle: (i + 0.5) / 4 reversed, then zeros.
    expected = torch.tensor([0.875, 0.625, 0.375, 0.125, 0.0, 0.0])
    assert torch.allclose(w[-6:], expected, atol=1e-6)


def test_one_call_when_tile_none_or_large():
    calls = []

    def fn(t):
        calls.append(tuple(t.shape))
        return t.repeat_interleave(3, -1).repeat_interleave(3, -2)

    x = torch.rand(1, 3, 10, 12)
    assert tiled_apply(fn, x, 3).shape == (1, 3, 30, 36)
    assert tiled_apply(fn, x, 3, tile=12).shape == (1, 3, 30, 36)
    assert calls == [(1, 3, 10, 12), (1, 3, 10, 12)]


def test_progress_called_per_tile_with_increasing_fractions():
    seen = []
    x = torch.rand(1, 3, 50, 70)
    out = tiled_apply(lambda t: t, x, 1, tile=32, overlap=8, progress=lambda f, m: seen.append((f, m)))
    assert torch.allclose(out, x, atol=1e-6)
    # rows: starts 0, 18 (2 tiles); cols: 0, 24, 38 (3 tiles)
    assert len(seen) == 6
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert seen[0][1] == "tile 1/6" and seen[-1][1] == "tile 6/6"


def test_size_multiple_pads_and_crops():
    shapes = []

    def fn(t):
        shapes.append(tuple(t.shape[-2:]))
        assert t.shape[-2] % 8 == 0 and t.shape[-1] % 8 == 0
        return t

    x = torch.rand(1, 3, 37, 45)
    out = tiled_apply(fn, x, 1, tile=30, overlap=8, size_multiple=8)
    assert out.shape == x.shape
    assert torch.allclose(out, x, atol=1e-6)
    assert all(s == (24, 24) for s in shapes)  # tile rounded down to a multiple of 8


def test_oom_backoff_halves_until_it_fits():
    net = _net_x2()
    x = torch.rand(1, 3, 90, 90)
    tried = []

    def fn(t):
        if max(t.shape[-2:]) > 40:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return net(t)

    def run(tile):
        tried.append(tile)
        return tiled_apply(fn, x, 2, tile=tile, overlap=16)

    out = run_with_oom_backoff(run, 160, min_tile=8)
    assert tried == [160, 80, 40]
    with torch.no_grad():
        ref = net(x)
    assert (out - ref).abs().max().item() < 1e-4


def test_oom_below_minimum_becomes_image_too_large():
    def run(tile):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(ImageTooLargeError, match="not enough memory"):
        run_with_oom_backoff(run, 64, min_tile=32)


def test_other_errors_pass_through():
    def run(tile):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        run_with_oom_backoff(run, 64)
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: can't allocate memory"))


def test_auto_tile_size_cpu():
    t4 = auto_tile_size(torch.device("cpu"), scale=4)
    t1 = auto_tile_size(torch.device("cpu"), scale=1)
    assert t4 % 32 == 0 and 64 <= t4 <= 2048
    assert t1 > t4  # a bigger factor means bigger activations per input pixel
    assert auto_tile_size(torch.device("cpu"), scale=4, bytes_per_pixel_budget=10**9) == 64


def test_cuda_tile_size_follows_free_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 * 1024**3, 16 * 1024**3))
    big = auto_tile_size(torch.device("cuda"), scale=4)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1 * 1024**3, 16 * 1024**3))
    small = auto_tile_size(torch.device("cuda"), scale=4)
    assert big > small >= 64


def test_bad_inputs():
    with pytest.raises(InvalidInputError):
        tiled_apply(lambda t: t, torch.rand(3, 8, 8), 1)
    with pytest.raises(InvalidInputError):
        tiled_apply(lambda t: t, torch.rand(1, 3, 8, 8), 1, tile=4, window="box")
    with pytest.raises(InvalidInputError):
        tiled_apply(lambda t: t[..., :2, :2], torch.rand(1, 3, 8, 8), 2)
