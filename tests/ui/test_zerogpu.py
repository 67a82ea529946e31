"""ZeroGPU Spaces: every call that runs a model holds a GPU (``spaces.GPU``), and only those calls do.

A stand-in for Hugging Face's ``spaces`` package records the calls of the functions it wraps and, like
ZeroGPU's stubbed CUDA in the main process, the model cache hands out a model only while such a call runs.
"""

from __future__ import annotations

import functools
import json
import sys
import types

import numpy as np
import pytest
from PIL import Image

from models.catalog import default_for
from models.registry import Task

pytestmark = pytest.mark.slow


class FakeSpaces(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("spaces")
        self.calls: list[tuple[str, int]] = []  # (function, duration) per call
        self.attached = 0

    def GPU(self, duration: int | None = None):  # noqa: N802 (the real package's name)
        def wrap(fn):
            @functools.wraps(fn)
            def call(*args, **kwargs):
                self.calls.append((fn.__name__, duration))
                self.attached += 1
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.attached -= 1

            return call

        return wrap


@pytest.fixture(scope="module")
def zero():
    from app import build_demo
    from models.runtime import ModelCache

    fake = FakeSpaces()
    patch = pytest.MonkeyPatch()
    patch.setitem(sys.modules, "spaces", fake)
    fetch = ModelCache.get

    def guarded(self, model_id, *args, **kwargs):
        if not fake.attached:
            raise AssertionError(f"model {model_id!r} was fetched without a GPU attached")
        return fetch(self, model_id, *args, **kwargs)

    patch.setattr(ModelCache, "get", guarded)
    try:
        demo = build_demo()
        yield fake, {f.api_name: f.fn for f in demo.fns.values() if f.api_visibility != "private"}
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    yy, xx = np.mgrid[0:40, 0:48]
    path = tmp_path_factory.mktemp("zero") / "photo.png"
    Image.fromarray(np.stack([xx * 5, yy * 6, 255 - xx * 5], -1).astype(np.uint8)).save(path)
    return path


def _took(fake: FakeSpaces, run) -> list[tuple[str, int]]:
    before = len(fake.calls)
    result = run()
    return fake.calls[before:], result


@pytest.mark.skipif(default_for(Task.GENERATE) is None, reason="no generator registered")
def test_generate_endpoints_hold_a_gpu(zero):
    fake, fns = zero
    calls, (items, first) = _took(fake, lambda: fns["generate"](None, None, 3, 2, 1.0))
    assert calls == [("on_generate", 30)]
    assert len(items) == 2 and np.asarray(Image.open(first)).shape == (64, 64, 4)
    calls, path = _took(fake, lambda: fns["interpolate"](None, None, None, 1, 2, 3, 1.0))
    assert calls == [("on_interpolate", 30)] and Image.open(path).n_frames == 4  # 3 there, 1 back
    calls, (items, _) = _took(fake, lambda: fns["variations"](None, None, 1, 3, 0.3, 1.0))
    assert calls == [("on_variations", 30)] and len(items) == 3


def test_upscale_and_inpaint_hold_a_gpu(zero, photo, tmp_path):
    fake, fns = zero
    calls, (_, after, _) = _took(fake, lambda: fns["upscale"](str(photo), "bicubic", 2, 0))
    assert calls == [("on_upscale", 120)] and Image.open(after).size == (96, 80)
    mask = np.zeros((40, 48), np.uint8)
    mask[10:20, 10:20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    calls, (_, after, _) = _took(
        fake, lambda: fns["inpaint"](str(photo), None, str(tmp_path / "mask.png"), "telea", 0, 0, "crop", 32)
    )
    assert calls == [("on_inpaint", 60)]
    src, out = np.asarray(Image.open(photo)), np.asarray(Image.open(after))[..., :3]
    assert np.array_equal(out[mask == 0], src[mask == 0])


def test_only_model_work_holds_a_gpu(zero, photo):
    """A plain edit and a composite run on the CPU alone; an edit's content-aware fill asks for the GPU."""
    fake, fns = zero
    crop = json.dumps({"version": 1, "steps": [{"op": "crop", "left": 0, "top": 0, "width": 8, "height": 8}]})
    calls, (result, *_) = _took(fake, lambda: fns["edit"](str(photo), crop))
    assert calls == [] and Image.open(result).size == (8, 8)
    aware = json.dumps({"version": 1, "steps": [{"op": "fill", "rect": [4, 4, 6, 6], "content_aware": True}]})
    calls, (result, *_) = _took(fake, lambda: fns["edit"](str(photo), aware))
    assert calls == [("fill", 60)] and Image.open(result).size == (48, 40)
    place = (None, 4, 4, 0.5, 0, 1.0, 0, "normal", "alpha", None, 0.6, None, 0.4, 0)
    calls, result = _took(fake, lambda: fns["composite"](str(photo), str(photo), *place))
    assert calls == [] and Image.open(result).size == (48, 40)


def test_without_spaces_handlers_are_unwrapped(monkeypatch):
    from ui.gpu import on_gpu

    def work():
        return 1

    monkeypatch.delitem(sys.modules, "spaces", raising=False)
    assert on_gpu(60)(work) is work
