"""The upscaler benchmark's illustration set: its pictures flattened onto white, its table quality only."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench import bench_upscale
from training import illustrations

pytestmark = pytest.mark.training

ROW = {"native": 2, "crop": 384, "threads": 2}
SCORES = {"x2": {"pb": 30.0, "pm": 31.5, "sb": 0.9, "sm": 0.92}, "x4": {"pb": 25.0, "pm": 25.4, "sb": 0.8, "sm": 0.81}}


def test_transparent_clip_art_is_flattened_onto_white(tmp_path):
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[:2] = (200, 10, 10, 255)  # an opaque red top half, a transparent bottom half
    rgba[2:, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = np.asarray(illustrations.flatten(tmp_path / "a.png"))
    assert out.shape == (4, 6, 3)
    assert (out[:2] == (200, 10, 10)).all() and (out[2:] == 255).all()


def test_the_illustration_list_pins_every_file():
    spec = json.loads(illustrations.DEFAULT_LIST.read_text())
    assert spec["package"] == "openclipart-png" and "public domain" in spec["licence"]
    assert len(spec["images"]) >= 6
    assert all(len(e["sha256"]) == 64 and e["path"].startswith("/usr/share/openclipart/") for e in spec["images"])


def test_the_illustration_table_has_quality_only(tmp_path):
    rows = {
        "span-x2": {"id": "span-x2", "title": "SPAN x2", **ROW, **SCORES},
        "bicubic": {"id": "bicubic", "title": "Bicubic", **ROW, "native": 0, **SCORES},
        "realesrgan-x4plus.hub": {"note": "- skipped"},
    }
    text = bench_upscale.render_illustrations(rows, tmp_path / "missing", 384)
    table = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert table[0] == "| model | native | x2 PSNR-Y | x2 SSIM-Y | x4 PSNR-Y | x4 SSIM-Y |"
    # registry order (resamplers first), six cells each, the gain over bicubic in brackets
    cells = "31.50 (+1.50) | 0.9200 (+0.0200) | 25.40 (+0.40) | 0.8100 (+0.0100)"
    assert table[1] == f"| Bicubic (`bicubic`) | any | {cells} |"
    assert table[2].startswith("| SPAN x2 (`span-x2`) | x2 |") and len(table) == 3


def test_each_set_has_its_own_results_files():
    stems = {stem for _folder, _crop, stem, _timing in bench_upscale.SETS.values()}
    assert stems == {"upscale", "upscale-illustrations"}
    assert bench_upscale.SETS["photos"][3] and not bench_upscale.SETS["illustrations"][3]
