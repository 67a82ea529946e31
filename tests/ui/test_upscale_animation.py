"""The Upscale tab on an animation: an animation of its kind comes back, the estimate is shown, no warning that
only the first frame is used, and the limit refuses before the model loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ui.images
import ui.upscale
from core.errors import ImageTooLargeError
from models.runtime import ModelCache
from ops import animation
from ui.context import AppContext
from ui.upscale import run_upscale


@pytest.fixture()
def ctx(tmp_path) -> AppContext:
    return AppContext(cache=ModelCache(device=torch.device("cpu")), outdir=tmp_path / "out")


@pytest.fixture()
def anim(tmp_path):
    frames = [Image.new("RGBA", (8, 6), (60 * i, 0, 0, 255)) for i in range(3)]
    frames[0].save(
        tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=[50, 60, 70], loop=0, lossless=True
    )
    return tmp_path / "anim.webp"


def test_an_animation_comes_back_as_one_of_its_kind_with_the_estimate(ctx, anim, monkeypatch):
    said: list[str] = []
    monkeypatch.setattr(ui.upscale.gr, "Info", said.append)
    monkeypatch.setattr(ui.images.gr, "Warning", said.append)
    before, after, note = run_upscale(ctx, {"path": str(anim)}, "nearest", 2, 0)
    assert before == str(anim) and after.endswith("anim-x2.webp")
    assert note == "Nearest neighbour: 3 frames, 8x6 -> 16x12 (WebP, frame timing and loop kept)"
    assert len(said) == 1 and said[0].startswith("anim.webp: 3 frames, about "), said
    with Image.open(after) as img:
        assert img.n_frames == 3 and img.info["loop"] == 0
        img.seek(2)
        img.load()
        assert img.info["duration"] == 70 and np.asarray(img.convert("RGB"))[0, 0].tolist() == [120, 0, 0]


def test_an_animation_past_the_limit_is_refused_before_the_model_loads(ctx, anim, monkeypatch):
    monkeypatch.setattr(animation, "MAX_FRAMES", 2)
    monkeypatch.setattr(ctx.cache, "get", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(ImageTooLargeError, match="has 3 frames"):
        run_upscale(ctx, str(anim), "nearest", 2, 0)
