"""oneDNN's fused convolutions on a CPU: a convolution and the activation after it in one pass over memory.

PyTorch ships oneDNN's convolution with a pointwise post-op (``torch.ops.mkldnn._convolution_pointwise``, the
fused convolution its own compiler emits on CPUs). For the narrow convolutions of small networks the separate
activation costs as much memory traffic as the convolution's output, so fusing it is a large share of their
time. The op is private API: each activation is probed once per process against the plain computation, and a
layer falls back to the plain path where the probe fails (another PyTorch, no oneDNN) or where the op does
not apply (another device or dtype, or autograd recording: the op has no backward).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

#: The activations a convolution can fuse: post-op name -> (oneDNN algorithm, the plain function, applied to a
#: convolution's new output: in place where PyTorch has it so).
ACTIVATIONS = {
    "relu": ("", torch.relu_),
    "swish": ("", lambda y: F.silu(y, inplace=True)),
    "gelu": ("none", F.gelu),  # GELU with erf, as nn.GELU() computes it
}


def _op():
    return getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)


@functools.cache
def fused_available(act: str) -> bool:
    """Whether oneDNN's convolution with the post-op ``act`` is here and computes ``act(conv(x))`` (probed
    once per activation)."""
    if _op() is None or not torch.backends.mkldnn.is_available():
        return False
    with torch.device("cpu"):  # whatever default device the caller has set (a meta-device build)
        conv = nn.Conv2d(4, 4, 3, padding=1).eval()
        x = torch.randn(1, 4, 6, 5, generator=torch.Generator().manual_seed(0))
    try:
        with torch.inference_mode():
            got = fused_conv(x.contiguous(memory_format=torch.channels_last), conv, act)
            want = ACTIVATIONS[act][1](conv(x))
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return got.shape == want.shape and torch.allclose(got, want, atol=1e-5, rtol=1e-4)


def fused_conv(x: torch.Tensor, conv: nn.Conv2d, act: str) -> torch.Tensor:
    """``act(conv(x))`` in one oneDNN call (no check: see :func:`applies`)."""
    algorithm = ACTIVATIONS[act][0]
    return _op()(x, conv.weight, conv.bias, conv.padding, conv.stride, conv.dilation, conv.groups, act, [], algorithm)


def applies(x: torch.Tensor) -> bool:
    """Whether the fused op can run on ``x``: a float32 or bfloat16 CPU tensor, with autograd not recording."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16) and not torch.is_grad_enabled()


class ConvAct(nn.Conv2d):
    """``act(conv(x))`` for an activation of :data:`ACTIVATIONS`: in one oneDNN call where :func:`applies` and
    ``fused`` (None: where :func:`fused_available`), else the plain convolution and activation. Still an
    ``nn.Conv2d`` with its parameters, so state dicts, forward hooks and ``.to()`` see the convolution (PyTorch's
    FlopCounterMode does not see the fused op: count FLOPs with autograd recording, on the plain path)."""

    def __init__(self, *args, act: str = "relu", fused: bool | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {act!r}; known: {', '.join(ACTIVATIONS)}")
        if self.padding_mode != "zeros":  # the fused op pads with zeros only
            raise ValueError(f"a fused convolution pads with zeros, not {self.padding_mode!r}")
        self.act, self.fused = act, fused

    @classmethod
    def of(cls, conv: nn.Conv2d, act: str, fused: bool | None = None) -> ConvAct:
        """The same convolution (its parameters shared, not copied) followed by ``act``."""
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            bias=False,
            padding_mode=conv.padding_mode,
            act=act,
        )
        layer.weight, layer.bias = conv.weight, conv.bias
        layer.dilation, layer.groups, layer.fused = conv.dilation, conv.groups, fused
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if applies(x) and (fused_available(self.act) if self.fused is None else self.fused):
            return fused_conv(x, self, self.act)
        return ACTIVATIONS[self.act][1](super().forward(x))
