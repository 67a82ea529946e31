"""BigGAN-deep against the reference implementation, pytorch-pretrained-biggan (the package the Hub file was made
for): the same random state dict, loaded strictly into both, gives the same images."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import pytest
import torch

from models.archs.biggan_deep import BigGANDeep
from models.catalog import get_spec

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pytorch_pretrained_biggan") is None,
    reason="the reference, pytorch-pretrained-biggan, is not installed (requirements-dev.txt installs it)",
)

SPEC_ID = "biggan-deep-128.hub"
#: a small generator of the Hub file's shape: 16 channel units in, 1 out, halved at most once a block (as the
#: reference's shortcut does), the condition as wide as the latent
SMALL = {
    "output_dim": 64,
    "z_dim": 8,
    "class_embed_dim": 8,
    "channel_width": 4,
    "num_classes": 5,
    "layers": [(False, 16, 16), (True, 16, 8), (True, 8, 4), (False, 4, 4), (True, 4, 2), (True, 2, 1)],
    "attention_layer_position": 3,
    "eps": 1e-4,
    "n_stats": 51,
}


@pytest.fixture()
def reference(monkeypatch):
    """The reference's model module, imported without its package ``__init__``, which imports scipy for a noise
    helper that this check does not use (scipy is not installed here)."""
    found = importlib.util.find_spec("pytorch_pretrained_biggan")
    package = types.ModuleType("pytorch_pretrained_biggan")
    package.__path__, package.__spec__ = list(found.submodule_search_locations), found
    for name in [m for m in sys.modules if m.startswith("pytorch_pretrained_biggan")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pytorch_pretrained_biggan", package)
    module = importlib.import_module("pytorch_pretrained_biggan.model")
    yield module
    for name in [m for m in sys.modules if m.startswith("pytorch_pretrained_biggan.")]:
        del sys.modules[name]


def _randomised(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer drawn at random, so that each one counts: variances positive, attention on, and
    each spectral norm's vectors near the weight's top singular pair (as training leaves them; random ones
    can make the norm near zero and the images NaN in both)."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, value in model.state_dict().items():
        t = torch.randn(value.shape, generator=g) * (0.5 if value.ndim > 1 else 0.2)
        if "running_vars" in key:
            t = t.abs() + 0.5
        if key.endswith("gamma"):
            t = torch.full(value.shape, 0.7)
        state[key] = t
    for key in [k for k in state if k.endswith("weight_orig")]:
        w = state[key].reshape(state[key].shape[0], -1)
        v = torch.ones(w.shape[1]) / w.shape[1] ** 0.5
        for _ in range(10):  # power iteration towards the top singular pair
            u = torch.nn.functional.normalize(w @ v, dim=0)
            v = torch.nn.functional.normalize(w.T @ u, dim=0)
        stem = key[: -len("orig")]
        state[stem + "u"], state[stem + "v"] = u, v
    return state


def _compare(reference, params: dict, batch: int) -> float:
    config = reference.BigGANConfig(**params)
    ref = reference.BigGAN(config).eval()
    state = _randomised(ref)
    ref.load_state_dict(state, strict=True)
    ours = BigGANDeep(**params).eval()
    ours.load_state_dict(state, strict=True)
    g = torch.Generator().manual_seed(1)
    worst = 0.0
    with torch.inference_mode():
        for truncation in (1.0, 0.5, 0.4, 0.02):
            z = (torch.randn(batch, params["z_dim"], generator=g).clamp(-2, 2) * truncation).float()
            labels = torch.nn.functional.one_hot(torch.arange(batch) % params["num_classes"], params["num_classes"])
            a = ref(z, labels.float(), truncation)
            b = ours(z, labels.float(), truncation)
            assert a.shape == b.shape == (batch, 3, params["output_dim"], params["output_dim"])
            assert torch.isfinite(a).all() and a.std() > 0.01  # images, not NaN or a constant
            worst = max(worst, (a - b).abs().max().item())
    return worst


def test_a_small_generator_equals_the_reference(reference):
    assert _compare(reference, SMALL, batch=3) < 1e-5


@pytest.mark.slow
def test_the_hub_layout_equals_the_reference(reference):
    """The catalogue's BigGAN-deep 128 (50.4 M parameters) at truncation 1, 0.5, 0.4 and 0.02 (2e-7 apart)."""
    params = dict(get_spec(SPEC_ID).params)
    params["layers"] = [tuple(layer) for layer in params["layers"]]
    assert _compare(reference, params, batch=2) < 1e-5
