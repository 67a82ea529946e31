"""Shared fixtures: an isolated Hugging Face cache, CPU only, small thread counts."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("GANVAS_DEVICE", "cpu")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture()
def hf_home(tmp_path, monkeypatch):
    """An empty Hugging Face cache for one test (huggingface_hub reads the constant at import)."""
    import huggingface_hub.constants as c

    home = tmp_path / "hf"
    hub = home / "hub"
    hub.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(c, "HF_HOME", str(home))
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(c, "HUGGINGFACE_HUB_CACHE", str(hub), raising=False)
    return hub
