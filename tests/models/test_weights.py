"""The Hub path against a local Hub cache built here, integrity checks and safe loading."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace

import pytest
import torch
from safetensors.torch import save_file

from core.errors import WeightsIntegrityError, WeightsUnavailableError
from models import weights
from models.integrity import sha256_file
from models.registry import EmbeddedFile, HubFile, ModelSpec, Task

REV = "0123456789abcdef0123456789abcdef01234567"


def _hub_file(sha: str | None = None, prefix: str | None = None) -> HubFile:
    return HubFile(repo_id="ganvas-test/tiny", filename="w.safetensors", revision=REV, sha256=sha, sha256_prefix=prefix)


def _put_in_cache(hub, payload: bytes) -> str:
    """Write a file where huggingface_hub keeps a pinned revision (snapshots/<commit>/file)."""
    repo = hub / "models--ganvas-test--tiny"
    blob = repo / "blobs" / hashlib.sha256(payload).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(payload)
    snap = repo / "snapshots" / REV
    snap.mkdir(parents=True)
    (snap / "w.safetensors").symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REV)
    return hashlib.sha256(payload).hexdigest()


def _tensor_bytes(tmp_path) -> bytes:
    p = tmp_path / "t.safetensors"
    save_file({"w": torch.arange(6, dtype=torch.float32).view(2, 3)}, str(p))
    return p.read_bytes()


def test_cache_hit_needs_no_network(hf_home, tmp_path, monkeypatch):
    sha = _put_in_cache(hf_home, _tensor_bytes(tmp_path))
    monkeypatch.setattr(weights, "_hub_reachable", lambda t: pytest.fail("network touched on a cache hit"))
    path = weights.fetch_hub_file(_hub_file(sha), "Tiny")
    sd = weights.load_state_dict(path)
    assert torch.equal(sd["w"], torch.arange(6, dtype=torch.float32).view(2, 3))


def test_cache_hit_with_wrong_sha_is_an_integrity_error(hf_home, tmp_path):
    _put_in_cache(hf_home, _tensor_bytes(tmp_path))
    with pytest.raises(WeightsIntegrityError, match="not the expected file"):
        weights.fetch_hub_file(_hub_file("f" * 64), "Tiny")


def test_prefix_check_accepts_matching_prefix_and_rejects_other(hf_home, tmp_path):
    sha = _put_in_cache(hf_home, _tensor_bytes(tmp_path))
    assert weights.fetch_hub_file(_hub_file(prefix=sha[:8]), "Tiny").is_file()
    with pytest.raises(WeightsIntegrityError):
        weights.fetch_hub_file(_hub_file(prefix="00000000"), "Tiny")


def test_offline_and_missing_fails_fast_with_a_typed_error(hf_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE") as err:
        weights.fetch_hub_file(_hub_file("a" * 64), "Tiny", alternative="bicubic")
    assert time.monotonic() - start < 2
    assert "bicubic" in str(err.value)


def test_unreachable_hub_fails_fast_with_a_typed_error(hf_home, monkeypatch):
    """This machine cannot reach the Hub: the real probe must give up within seconds."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused at once
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="cannot be reached .*refused the connection") as err:
        weights.fetch_hub_file(_hub_file("a" * 64), "Tiny", alternative="telea")
    assert time.monotonic() - start < weights.HUB_PROBE_TIMEOUT + 3
    assert "telea" in str(err.value)


def test_real_registry_hub_entry_offline_names_an_embedded_alternative(hf_home, monkeypatch):
    from models.runtime import ModelCache

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = ModelCache(device="cpu")
    with pytest.raises(WeightsUnavailableError) as err:
        cache.get("realesrgan-x4plus.hub")
    alt = cache.alternative_for(cache.registry.get("realesrgan-x4plus.hub"))
    assert alt == "realesrgan-x4plus.offline"  # the same network, shipped offline
    # named as the app's model list shows it, and by the id the CLI takes
    title = cache.registry.get(alt).title
    assert f"Use the offline model {title} instead (in the CLI: --model {alt})" in str(err.value)
    # else one of the same scale (the task's default first), else the default
    assert cache.alternative_for(cache.registry.get("realesrgan-x2plus.hub")) == "ganvas-sr-x2"
    assert cache.alternative_for(cache.registry.get("realesr-general-x4v3.hub")) == "span-x4"
    assert cache.alternative_for(cache.registry.get("big-lama.hub")) == cache.registry.default_for("inpaint").id


def test_embedded_file_sha_mismatch(tmp_path, monkeypatch):
    p = tmp_path / "x.safetensors"
    p.write_bytes(_tensor_bytes(tmp_path))
    monkeypatch.setattr(weights, "ASSETS_DIR", tmp_path)
    ok = EmbeddedFile(path="x.safetensors", sha256=sha256_file(p))
    assert weights.embedded_path(ok, "x") == p
    with pytest.raises(WeightsIntegrityError):
        weights.embedded_path(replace(ok, sha256="0" * 64), "x")
    with pytest.raises(WeightsUnavailableError):
        weights.embedded_path(replace(ok, path="missing.safetensors"), "x")


def test_pickle_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(1), "x": Evil()}, p)
    with pytest.raises(WeightsIntegrityError, match="plain tensors") as caught:
        weights.load_state_dict(p)
    assert "Error" not in str(caught.value)  # the unpickler's class and text are for the log


def test_weights_only_pickle_state_dict_unwraps_params_ema(tmp_path):
    p = tmp_path / "ok.pth"
    torch.save({"params_ema": {"a": torch.ones(2)}}, p)
    assert torch.equal(weights.load_state_dict(p)["a"], torch.ones(2))


def test_resolve_hub_spec_end_to_end(hf_home, tmp_path):
    sha = _put_in_cache(hf_home, _tensor_bytes(tmp_path))
    spec = ModelSpec(
        id="tiny.hub",
        task=Task.UPSCALE,
        title="Tiny",
        description="d",
        license="MIT",
        source=_hub_file(sha),
        loader="spandrel",
        scale=2,
    )
    assert weights.resolve(spec).name == "w.safetensors"


def test_an_unknown_hub_host_is_said_in_words(hf_home, monkeypatch):
    """No name service (this machine, a laptop offline): the message says so, not 'gaierror: [Errno -2] ...'."""
    import socket

    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights.socket, "create_connection", no_dns)
    with pytest.raises(WeightsUnavailableError) as err:
        weights.fetch_hub_file(_hub_file("a" * 64), "Tiny")
    assert "could not be looked up, so there is no internet connection" in str(err.value)
    assert "gaierror" not in str(err.value) and "Errno" not in str(err.value)


def test_a_failed_hub_download_is_said_in_words():
    """The message read "Downloading X failed (LocalEntryNotFoundError)": a class name, not a reason."""
    import errno

    from huggingface_hub import errors as hf_errors

    cases = {
        hf_errors.LocalEntryNotFoundError("offline"): "not in the local cache",
        hf_errors.EntryNotFoundError("404"): "no such file at the pinned revision",
        OSError(errno.ENOSPC, "No space left on device"): "the disk is full",
        TimeoutError("timed out"): "did not answer in time",
        ValueError("odd"): "broke off",
    }
    for exc, words in cases.items():
        why = weights._why_download_failed(exc)
        assert words in why and "Error" not in why, (exc, why)


def test_unreadable_converter_inputs_are_refused_without_class_names():
    """The converters said "(UnpicklingError)": the class is for the log."""
    import models.convert_weights as cw

    for convert in (cw.torch_netg_state_dict, cw.torch_state_dict):
        with pytest.raises(WeightsIntegrityError, match="not a readable") as caught:
            convert(b"\x80\x02 not a model at all")
        assert "Error" not in str(caught.value), convert.__name__
