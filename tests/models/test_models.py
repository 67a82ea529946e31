"""Walk the registry: every model that is available offline loads and runs on a tiny input;
every Hub model fails fast with a typed error when the Hub is offline. A new spec is tested here
without touching this file."""

from __future__ import annotations

import time

import pytest
import torch

from core.errors import InvalidInputError, WeightsUnavailableError
from models.catalog import list_models
from models.devices import pick_device, pick_dtype
from models.registry import Combined, HubFile, Task
from models.runtime import ModelCache

OFFLINE = [s for s in list_models() if not isinstance(s.source, HubFile)]
HUB = [s for s in list_models() if isinstance(s.source, HubFile)]


@pytest.fixture(scope="module")
def cache():
    return ModelCache(device="cpu", max_models=2)


def _check_upscaler(model, spec):
    # a smooth test card: real restoration models remove pure noise
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 3, 4), size=(12, 16), mode="bilinear")
    if spec.scale == 0:
        y = model.resize(x, (30, 40))
        assert y.shape == (1, 3, 30, 40)
    else:
        y = model(x)
        assert y.shape == (1, 3, 12 * spec.scale, 16 * spec.scale)
        # a real upscaler preserves the low frequencies of its input
        down = torch.nn.functional.interpolate(y, size=(12, 16), mode="area")
        assert float((down - x).abs().mean()) < 0.15


def _check_inpainter(model, spec):
    size = max(32, spec.size_multiple * 4)
    x = torch.linspace(0, 1, size).view(1, 1, 1, size).expand(1, 3, size, size).contiguous()
    m = torch.zeros(1, 1, size, size)
    m[..., size // 4 : size // 2, size // 4 : size // 2] = 1
    y = model(x, m)
    assert y.shape == x.shape
    assert float((y - x)[m.expand_as(x) > 0].abs().mean()) < 0.2  # fills a ramp with something ramp-like


def _check_generator(model, spec):
    imgs = model.generate([1, 2], [0, len(spec.labels) - 1] if spec.labels else None)
    assert imgs.shape == (2, 4, spec.output_size, spec.output_size)
    assert float(imgs.min()) >= 0 and float(imgs.max()) <= 1
    # same seed and label, alone or in a batch: the same image (batch size changes only float rounding,
    # here up to 2e-4; 1e-3 is a quarter of one 8-bit level)
    torch.testing.assert_close(imgs[:1], model.generate([1], [0] if spec.labels else None), atol=1e-3, rtol=0)
    assert not torch.allclose(imgs[0], imgs[1], atol=1e-3)  # another seed, another image


def _check_matter(model, spec):
    # a red disc on a grey ramp: the disc is the object, automatically and inside a box around it
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(80.0), indexing="ij")
    disc = ((yy - 32) ** 2 + (xx - 40) ** 2 < 16**2).float()[None, None]
    ground = (0.3 + 0.3 * xx / 80)[None, None].expand(1, 3, 64, 80)
    x = ground * (1 - disc) + torch.tensor([0.9, 0.1, 0.1]).view(1, 3, 1, 1) * disc
    for box in (None, (20, 12, 40, 40)):
        alpha = model(x, box)
        assert alpha.shape == (1, 1, 64, 80)
        assert float(alpha.min()) >= 0 and float(alpha.max()) <= 1
        inside, outside = float(alpha[disc > 0].mean()), float(alpha[disc == 0].mean())
        assert inside > 0.8 and outside < 0.2, (box, inside, outside)


def _check_filter(model, spec):
    # the smooth test card at an odd size: the same size back, in range, still the same picture in outline
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 3, 4), size=(13, 18), mode="bilinear")
    y = model(x, model.context(x))
    assert y.shape == x.shape
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    assert float((y - x).abs().mean()) < 0.25


#: How a model of each task is checked: a new task fails here until it has its check.
CHECKS = {
    Task.UPSCALE: _check_upscaler,
    Task.INPAINT: _check_inpainter,
    Task.GENERATE: _check_generator,
    Task.CUTOUT: _check_matter,
    Task.FILTER: _check_filter,
}


def test_every_task_has_a_check():
    assert set(CHECKS) == set(Task)


@pytest.mark.parametrize("spec", OFFLINE, ids=lambda s: s.id)
def test_offline_model_runs(cache, spec):
    model = cache.get(spec.id)
    assert model.spec is spec
    if not isinstance(spec.source, Combined):  # a combined model runs its parts' networks
        assert model.param_count() == spec.param_count
    torch.manual_seed(0)
    CHECKS[spec.task](model, spec)


@pytest.mark.parametrize("spec", HUB, ids=lambda s: s.id)
def test_hub_model_offline_fails_fast_and_names_an_alternative(spec, hf_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = ModelCache(device="cpu")
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as err:
        cache.get(spec.id)
    assert time.monotonic() - start < 3
    alt = cache.alternative_for(spec)
    assert alt is None or alt in str(err.value)


def test_cache_is_lru_and_keyed_by_device_and_dtype():
    loads = []

    def loader(spec, device, dtype, alt, parts):
        loads.append(spec.id)
        return object()

    cache = ModelCache(device="cpu", max_models=2, loader=loader)
    a = cache.get("bicubic")
    assert cache.get("bicubic") is a and loads == ["bicubic"]
    cache.get("lanczos")
    cache.get("nearest")  # evicts bicubic, the least recently used
    assert [k[0] for k in cache.loaded()] == ["lanczos", "nearest"]
    cache.get("bicubic")
    assert loads == ["bicubic", "lanczos", "nearest", "bicubic"]


def test_cache_loads_once_under_concurrency():
    import threading

    loads = []

    def loader(spec, device, dtype, alt, parts):
        time.sleep(0.05)
        loads.append(spec.id)
        return object()

    cache = ModelCache(device="cpu", loader=loader)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("bicubic"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["bicubic"] and len({id(r) for r in results}) == 1


def test_device_override_and_dtype_choice(monkeypatch):
    monkeypatch.setenv("GANVAS_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="CUDA"):
            pick_device("cuda")
    spec = next(s for s in list_models() if s.supports_half)
    assert pick_dtype(spec, torch.device("cpu")) == torch.float32
    monkeypatch.delenv("GANVAS_DTYPE", raising=False)
    assert pick_dtype(spec, torch.device("cuda")) == torch.float16
    monkeypatch.setenv("GANVAS_DTYPE", "bfloat16")
    assert pick_dtype(spec, torch.device("cpu")) == torch.bfloat16
    classical = list_models("upscale")[0]
    assert pick_dtype(classical, torch.device("cpu")) == torch.float32


def test_bfloat16_on_a_cpu_only_where_it_is_native_and_the_model_was_measured(monkeypatch):
    from models import devices
    from models.catalog import get_spec

    cpu = torch.device("cpu")
    monkeypatch.delenv("GANVAS_DTYPE", raising=False)
    measured, other = get_spec("realsr-df2k-x4.offline"), get_spec("span-x4")  # span-x4 loses 0.74 dB in bf16
    assert measured.bfloat16_on_cpu and not other.bfloat16_on_cpu
    monkeypatch.setattr(devices, "cpu_native_bfloat16", lambda: True)
    assert pick_dtype(measured, cpu) == torch.bfloat16 and pick_dtype(other, cpu) == torch.float32
    assert pick_dtype(measured, torch.device("cuda")) == torch.float16
    monkeypatch.setenv("GANVAS_DTYPE", "float32")  # the way back to exact float32
    assert pick_dtype(measured, cpu) == torch.float32
    monkeypatch.delenv("GANVAS_DTYPE")
    monkeypatch.setattr(devices, "cpu_native_bfloat16", lambda: False)  # emulated bfloat16 is slower: float32
    assert pick_dtype(measured, cpu) == torch.float32
