"""bench_cutout: the scores against their definitions, the box growth, and the stamp filter on tiny images."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from bench.bench_cutout import HELD_OUT, ROOT, _photo_like, grown_box, scores


def test_iou_at_half_and_mean_absolute_error():
    true = np.zeros((4, 4), np.float32)
    true[:2] = 1
    pred = np.zeros((4, 4), np.float32)
    pred[:1] = 0.9  # 4 of the 8 true pixels, no false ones
    pred[3, 0] = 0.4  # below 0.5: not counted in the IoU, but in the error
    iou, err = scores(pred, true)
    assert iou == 0.5
    assert np.isclose(err, (4 * 0.1 + 4 * 1.0 + 0.4) / 16)
    assert scores(np.zeros((2, 2)), np.zeros((2, 2))) == (1.0, 0.0)


def test_the_box_grows_within_the_image():
    assert grown_box([10, 20, 30, 40], (100, 100)) == (2, 12, 36, 36)
    assert grown_box([2, 3, 98, 99], (100, 100)) == (0, 0, 100, 100)


def test_only_photo_like_stamps_with_a_real_alpha_are_used(tmp_path):
    rng = np.random.default_rng(0)
    photo = np.dstack([rng.integers(0, 256, (120, 120, 3)), np.zeros((120, 120))]).astype(np.uint8)
    photo[20:100, 20:100, 3] = 255
    Image.fromarray(photo, "RGBA").save(tmp_path / "photo.png")
    flat = photo.copy()
    flat[..., :3] = 128
    Image.fromarray(flat, "RGBA").save(tmp_path / "flat.png")
    (tmp_path / "cartoon").mkdir()
    Image.fromarray(photo, "RGBA").save(tmp_path / "cartoon" / "x.png")
    assert _photo_like(tmp_path / "photo.png") is not None
    assert _photo_like(tmp_path / "flat.png") is None  # too few colours: a drawing
    assert _photo_like(tmp_path / "cartoon" / "x.png") is None
    assert set(HELD_OUT) == {"animals", "food", "vehicles", "household", "plants"}


@pytest.mark.slow
def test_it_runs_as_a_module():
    """``python -m bench.bench_cutout`` from the repository root, as the README runs it: its --help answers."""
    cmd = [sys.executable, "-m", "bench.bench_cutout", "--help"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "--held-out" in proc.stdout, proc.stderr
