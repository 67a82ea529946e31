"""Where weights come from, and the only way they are read.

Every file is checked against the sha256 recorded in its spec before it is loaded, and loading
is safetensors or ``torch.load(weights_only=True)``: never an arbitrary pickle.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import torch

from core.errors import WeightsIntegrityError, WeightsUnavailableError
from models.convert_weights import convert_package_file
from models.integrity import verify_sha256
from models.registry import Builtin, Combined, EmbeddedFile, HubFile, ModelSpec, PackageFile

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"

#: Seconds allowed to find out whether the Hub answers at all before giving up.
HUB_PROBE_TIMEOUT = float(os.environ.get("GANVAS_HUB_TIMEOUT", "5"))


def hub_offline() -> bool:
    """True when the user asked huggingface_hub to stay offline."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _why_unreachable(exc: OSError) -> str:
    """What a failed connection means, in words ('gaierror: [Errno -2] Name or service not known' meant nothing)."""
    if isinstance(exc, socket.gaierror):
        return "could not be looked up, so there is no internet connection or no name service"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "did not answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "refused the connection"
    return f"could not be reached ({exc.strerror or exc.__class__.__name__})"


def _hub_reachable(timeout: float) -> tuple[bool, str]:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme != "http" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as exc:
        return False, f"{host} {_why_unreachable(exc)}"


def fetch_hub_file(src: HubFile, title: str, alternative: str | None = None) -> Path:
    """Path of the pinned Hub file in the huggingface_hub cache, downloading it if needed.

    A cache hit needs no network. Otherwise the Hub is probed with a short timeout, so an
    offline machine gets :class:`WeightsUnavailableError` in seconds, not after retries.
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    hint = f" Use the offline model {alternative}, or" if alternative else ""
    cached = try_to_load_from_cache(src.repo_id, src.filename, revision=src.revision)
    if isinstance(cached, str) and Path(cached).is_file():
        verify_sha256(cached, src.sha256, src.sha256_prefix, title)
        return Path(cached)
    if hub_offline():
        raise WeightsUnavailableError(
            f"{title} is not downloaded yet and HF_HUB_OFFLINE is set.{hint} unset HF_HUB_OFFLINE "
            f"on a machine with internet to fetch {src.repo_id}/{src.filename}."
        )
    start = time.monotonic()
    ok, why = _hub_reachable(HUB_PROBE_TIMEOUT)
    if not ok:
        raise WeightsUnavailableError(
            f"{title} must be downloaded from the Hugging Face Hub, which cannot be reached from here "
            f"(after {time.monotonic() - start:.1f} s): {why}.{hint} run once on a machine with internet."
        )
    try:
        path = hf_hub_download(src.repo_id, src.filename, revision=src.revision, etag_timeout=HUB_PROBE_TIMEOUT)
    except Exception as exc:  # huggingface_hub raises many types: network, 404, auth, disk
        raise WeightsUnavailableError(
            f"Downloading {title} from {src.repo_id} failed ({exc.__class__.__name__}).{hint} try again later."
        ) from exc
    verify_sha256(path, src.sha256, src.sha256_prefix, title)
    return Path(path)


def embedded_path(src: EmbeddedFile, title: str) -> Path:
    """Path of an embedded weights file, checked against its sha256."""
    path = ASSETS_DIR / src.path
    if not path.is_file():
        raise WeightsUnavailableError(f"The embedded weights for {title} are missing (assets/{src.path}).")
    verify_sha256(path, src.sha256, None, title)
    return path


def resolve(spec: ModelSpec, alternative: str | None = None) -> Path | None:
    """Local, verified path of a spec's weights (None for classical methods)."""
    src = spec.source
    if isinstance(src, (Builtin, Combined)):
        return None
    if isinstance(src, EmbeddedFile):
        return embedded_path(src, spec.title)
    if isinstance(src, HubFile):
        return fetch_hub_file(src, spec.title, alternative)
    if isinstance(src, PackageFile):
        return convert_package_file(src, spec.title, alternative)
    raise TypeError(f"unknown weights source {src!r}")


def _unwrap(obj: object) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("params_ema", "params", "state_dict", "model", "generator"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj  # type: ignore[return-value]
    raise WeightsIntegrityError("The weights file does not contain a state dict of tensors.")


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors, or from a pickle with ``weights_only=True``."""
    p = Path(path)
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p), device="cpu")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsIntegrityError(
            f"{p.name} could not be read as plain tensors ({exc.__class__.__name__}); Ganvas only "
            "loads safetensors or weights-only PyTorch files."
        ) from exc
    return _unwrap(obj)
