"""The embedded Compact super-resolution weights: spandrel detects them and the registry loads them."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from models.catalog import get_spec
from models.weights import ASSETS_DIR


@pytest.mark.parametrize("model_id,scale", [("ganvas-sr-x2", 2), ("ganvas-sr-x4", 4)])
def test_embedded_weights_are_detected_by_spandrel(model_id: str, scale: int) -> None:
    from spandrel import ModelLoader

    spec = get_spec(model_id)
    path = ASSETS_DIR / spec.source.path
    desc = ModelLoader().load_from_file(str(path))
    assert desc.architecture.id == "Compact"
    assert desc.scale == scale == spec.scale
    with safe_open(str(path), "pt") as f:
        assert f.metadata()["scale"] == str(scale)
        assert all(f.get_tensor(k).dtype == torch.float32 for k in f.keys())
    y = desc.model.eval()(torch.rand(1, 3, 6, 5))
    assert y.shape == (1, 3, 6 * scale, 5 * scale)


@pytest.mark.parametrize("model_id", ["ganvas-sr-x2", "ganvas-sr-x4"])
def test_registry_loads_embedded_model(model_id: str) -> None:
    from models.loaders import load_model

    model = load_model(get_spec(model_id), torch.device("cpu"), torch.float32)
    out = model(torch.rand(1, 3, 8, 8))
    assert out.shape == (1, 3, 8 * model.scale, 8 * model.scale)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
