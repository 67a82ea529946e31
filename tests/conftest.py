"""Shared fixtures: an isolated Hugging Face cache, CPU only, small thread counts.

Tests start on the offline defaults (``GANVAS_DEFAULTS=offline``), so a machine whose Hugging Face cache or
network holds a Hub model runs them as this one does; the tests of the default resolution unset it.
"""

from __future__ import annotations

import contextlib
import os
import socket

import pytest
import torch

os.environ.setdefault("GANVAS_DEVICE", "cpu")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GANVAS_DEFAULTS", "offline")
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


@pytest.fixture()
def cached_hub_upscaler(hf_home, monkeypatch):
    """Real-ESRGAN general x4v3 in the local Hub cache (its real architecture, random weights), the registry's
    spec pinned to that file's sha256, and the defaults resolved as at start-up: returns the spec."""
    from dataclasses import replace

    from spandrel.architectures.Compact import Compact

    from models import catalog
    from models.integrity import sha256_file

    monkeypatch.delenv("GANVAS_DEFAULTS", raising=False)
    spec = catalog.get_spec("realesr-general-x4v3.hub")
    src = spec.source
    path = hf_home / ("models--" + src.repo_id.replace("/", "--")) / "snapshots" / src.revision / src.filename
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save({"params": Compact(num_feat=64, num_conv=32, upscale=4).state_dict()}, path)
    local = replace(spec, source=replace(src, sha256=sha256_file(path), size=path.stat().st_size))
    monkeypatch.setattr(catalog, "SPECS", [local if s.id == spec.id else s for s in catalog.SPECS])
    return local


@contextlib.contextmanager
def launched_app():
    """The app as ``python app.py`` launches it (its launch options), on a free loopback port: yields its URL."""
    from app import build_demo, launch_options

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = build_demo()
    demo.queue().launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        ssr_mode=False,
        **launch_options(),
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
