"""The held-out inpainting evaluation's masks are what its table says they are, the same every run, and the
feature window holds the whole hole."""

import subprocess
import sys

import numpy as np
import pytest

from bench import bench_inpaint_held_out as bench


def _horse(side: int = 200) -> np.ndarray:
    """A stand-in silhouette: a filled irregular shape."""
    yy, xx = np.mgrid[:side, :side]
    return ((yy - 100) ** 2 / 60**2 + (xx - 90) ** 2 / 80**2 < 1) | ((yy > 90) & (abs(xx - 60) < 8))


@pytest.mark.parametrize("side", [300, 512])
def test_every_mask_covers_five_to_twenty_percent_and_is_seeded(side):
    lo, hi = bench.COVERAGE
    for seed in range(6):
        strokes = bench.stroke_mask(side, np.random.default_rng(seed))
        assert lo <= strokes.mean() <= hi + 0.03  # the last stroke segment may overshoot a little
        assert np.array_equal(strokes, bench.stroke_mask(side, np.random.default_rng(seed)))
        for kind in ("ellipse", "blob", "silhouette"):
            hole = bench.object_mask(side, np.random.default_rng(seed), kind, _horse())
            assert 0.6 * lo <= hole.mean() <= 1.4 * hi, (kind, seed, hole.mean())  # resampling moves the area a bit
            assert hole.shape == (side, side)


def test_the_feature_window_holds_the_hole_and_at_least_128_px():
    img = np.zeros((400, 400, 3), np.uint8)
    hole = np.zeros((400, 400), bool)
    hole[10:30, 370:395] = True  # at the edge: the window stays inside the image
    win = bench.hole_window(img, hole)
    assert win.shape == (128, 128, 3)
    hole[:] = False
    hole[50:350, 100:200] = True
    assert bench.hole_window(img, hole).shape[:2] == (332, 332)


def test_the_winner_must_be_best_on_both_measures():
    def model(name, psnr, feat):
        return {"id": name, "rows": [{"psnr": psnr, "features": feat, "kind": "strokes"}]}

    assert bench.winner([model("a", 20, 1.0), model("b", 19, 1.1)]) == "a"
    assert bench.winner([model("a", 20, 1.2), model("b", 19, 1.1)]) is None


@pytest.mark.slow
def test_it_runs_as_a_module():
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_inpaint_held_out", "--help"],
        cwd=bench.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr
