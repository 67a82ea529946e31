"""Where and in what precision models run: the one rule for device and dtype."""

from __future__ import annotations

import functools
import os

import torch

from core.errors import InvalidInputError
from models.registry import ModelSpec

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA, then MPS, then CPU; ``GANVAS_DEVICE`` (or ``preferred``) overrides."""
    name = (preferred or os.environ.get("GANVAS_DEVICE", "")).strip().lower()
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise InvalidInputError(f"Device {name!r} was asked for, but no CUDA GPU is available here.")
        if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise InvalidInputError("Device 'mps' was asked for, but Apple's MPS is not available here.")
        try:
            return torch.device(name)
        except RuntimeError as exc:
            raise InvalidInputError(f"Unknown device {name!r} (use cpu, cuda, cuda:N or mps).") from exc
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.cache
def cpu_native_bfloat16() -> bool:
    """True on a CPU that computes in bfloat16 natively (Intel AMX or AVX512-BF16, as its flags in
    /proc/cpuinfo say) and whose oneDNN takes bfloat16; elsewhere bfloat16 is emulated and slower than
    float32. False where the flags cannot be read (not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        flags = []
    native = "amx_bf16" in flags or "avx512_bf16" in flags
    return bool(native and torch.backends.mkldnn.is_available() and _mkldnn_bf16())


def _mkldnn_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_dtype(spec: ModelSpec, device: torch.device, preferred: str | None = None) -> torch.dtype:
    """float16/bfloat16 on GPUs where the model supports it; bfloat16 on a CPU with native bfloat16 for the
    models measured within tolerance there (``spec.bfloat16_on_cpu``); float32 otherwise.

    ``GANVAS_DTYPE`` (float32, float16, bfloat16) overrides, but never forces a precision the
    model does not support.
    """
    name = (preferred or os.environ.get("GANVAS_DTYPE", "")).strip().lower()
    if name and name not in _DTYPES:
        raise InvalidInputError(f"Unknown dtype {name!r} (use float32, float16 or bfloat16).")
    if name == "float16" and spec.supports_half:
        return runnable_dtype(device, torch.float16)
    if name == "bfloat16" and spec.supports_bfloat16:
        return torch.bfloat16
    if name:
        return torch.float32
    if device.type == "cuda" and spec.supports_half:
        return torch.float16
    if device.type == "cpu" and spec.bfloat16_on_cpu and cpu_native_bfloat16():
        return torch.bfloat16
    return torch.float32


def runnable_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """``dtype``, except float16 on the CPU, which runs as float32 (few CPU kernels have a float16 path, and
    those are slower than float32's); bfloat16 stays, for CPUs that have it."""
    return torch.float32 if device.type == "cpu" and dtype == torch.float16 else dtype
