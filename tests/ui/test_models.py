"""The model pickers: each preselects the task's resolved default and says under it which model that is and why."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.defaults import HubCheck, resolve_defaults, short_title
from models.registry import Task
from models.runtime import ModelCache
from ui.context import AppContext


def _build(ctx: AppContext) -> dict:
    from app import build_demo

    demo = build_demo(ctx)
    return {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}


def _no_hub(timeout: float) -> tuple[bool, str]:
    return False, "huggingface.co could not be looked up"


def test_a_cached_hub_upscaler_is_preselected_said_and_run(cached_hub_upscaler, tmp_path):
    """With the file in the local Hub cache, the Upscale tab opens on it and says so; an API call that leaves the
    model out runs it (the cache hit needs no network)."""
    from ui.upscale import run_upscale

    cache = ModelCache(device=torch.device("cpu"))
    ctx = AppContext(cache=cache, outdir=tmp_path, defaults=resolve_defaults(cache.registry, cache.device))
    by_id = _build(ctx)
    assert by_id["upscale-model"].value == cached_hub_upscaler.id
    assert by_id["upscale-model-default"].value == "Default here: Real-ESRGAN general x4v3 (Hub, in cache)."
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(tmp_path / "p.png")
    _, after, note = run_upscale(ctx, str(tmp_path / "p.png"), None, 4, 0)
    assert Image.open(after).size == (40, 32) and note.startswith("Real-ESRGAN general x4v3 (Hub)")


@pytest.mark.parametrize("task", [Task.GENERATE, Task.INPAINT, Task.UPSCALE])
def test_offline_every_tab_opens_on_its_offline_default_and_says_why(task, hf_home, tmp_path, monkeypatch):
    monkeypatch.delenv("GANVAS_DEFAULTS", raising=False)
    cache = ModelCache(device=torch.device("cuda"))  # a GPU's candidates; nothing runs on it here
    defaults = resolve_defaults(cache.registry, cache.device, HubCheck(probe=_no_hub))
    by_id = _build(AppContext(cache=cache, outdir=tmp_path, defaults=defaults))
    spec = cache.registry.default_for(task)
    if task == Task.UPSCALE:  # its offline default depends on the scale: "Automatic", first and preselected
        assert by_id["upscale-model"].value == "auto" and by_id["upscale-model"].choices[0][1] == "auto"
        expected = "Default here: SPAN x2 up to x2, SPAN x4 above (offline: the Hub could not be reached)."
    else:
        assert by_id[f"{task.value}-model"].value == spec.id
        expected = f"Default here: {short_title(spec)} (offline: the Hub could not be reached)."
    assert by_id[f"{task.value}-model-default"].value == expected


@pytest.mark.parametrize("model_id", [None, "auto"])
def test_offline_upscale_default_follows_the_scale(model_id, tmp_path, monkeypatch):
    """Offline, x2 and below run SPAN x2 (better and half the work there), larger scales SPAN x4; a model picked
    by hand stays, whatever the scale."""
    from models.defaults import Defaults
    from ui.upscale import run_upscale

    cache = ModelCache(device=torch.device("cpu"))
    ctx = AppContext(cache=cache, outdir=tmp_path, defaults=Defaults.offline(cache.registry))
    Image.fromarray(np.full((6, 8, 3), 90, np.uint8)).save(tmp_path / "p.png")
    for scale, title, size in ((1.5, "SPAN x2", (12, 9)), (2, "SPAN x2", (16, 12)), (3, "SPAN x4", (24, 18))):
        _, after, note = run_upscale(ctx, str(tmp_path / "p.png"), model_id, scale, 0)
        assert Image.open(after).size == size and note.startswith(f"{title} (offline")
    _, _, note = run_upscale(ctx, str(tmp_path / "p.png"), "span-x4", 2, 0)
    assert note.startswith("SPAN x4 (offline")


def test_a_hub_default_has_no_rule_by_scale(cached_hub_upscaler, tmp_path):
    cache = ModelCache(device=torch.device("cpu"))
    defaults = resolve_defaults(cache.registry, cache.device)
    assert defaults.choice(Task.UPSCALE).by_scale == ()
    assert defaults.for_task(Task.UPSCALE, None, scale=2).id == cached_hub_upscaler.id


def test_a_gpu_with_a_hub_opens_on_the_heavy_models(hf_home, tmp_path, monkeypatch):
    monkeypatch.delenv("GANVAS_DEFAULTS", raising=False)
    cache = ModelCache(device=torch.device("cuda"))
    defaults = resolve_defaults(cache.registry, cache.device, HubCheck(probe=lambda t: (True, "")))
    by_id = _build(AppContext(cache=cache, outdir=tmp_path, defaults=defaults))
    assert by_id["upscale-model"].value == "realesrgan-x4plus.hub"
    assert by_id["inpaint-model"].value == "big-lama.hub"
    assert by_id["generate-model"].value == "biggan-deep-128.hub"
    assert by_id["inpaint-model-default"].value == "Default here: LaMa big (Hub, downloads on first use, 206 MB)."
    assert len(by_id["gen-label"].choices) == 1000  # the labels of the preselected generator


def test_select_object_follows_strokes_with_a_promptable_model(tmp_path, monkeypatch):
    """A cut-out default that takes no points (here U²-Net-p, named by the environment; on a GPU Space BiRefNet)
    still cuts automatically, but painted strokes go to the registry's promptable default, MobileSAM."""
    from ui.inpaint import selector

    monkeypatch.setenv("GANVAS_CUTOUT_MODEL", "u2netp")
    cache = ModelCache(device=torch.device("cpu"))
    defaults = resolve_defaults(cache.registry, cache.device, HubCheck(probe=_no_hub))
    ctx = AppContext(cache=cache, outdir=tmp_path, defaults=defaults)
    assert selector(ctx, strokes=False).spec.id == "u2netp"
    chosen = selector(ctx, strokes=True)
    assert chosen.spec.id == cache.registry.default_for(Task.CUTOUT).id == "mobile-sam" and chosen.takes_points
