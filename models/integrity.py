"""sha256 checks of weights files: nothing is loaded that does not match the digest its spec records."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.errors import WeightsIntegrityError

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, memoised by (path, size, mtime) so repeated loads stay cheap."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def verify_sha256(path: str | Path, expected: str | None, prefix: str | None = None, what: str = "") -> str:
    """Raise :class:`WeightsIntegrityError` unless the file's sha256 matches (or starts with prefix)."""
    actual = sha256_file(path)
    name = what or Path(path).name
    if expected is not None and actual != expected:
        raise WeightsIntegrityError(
            f"The weights file for {name} is not the expected file (sha256 {actual[:12]}..., "
            f"expected {expected[:12]}...). It may be corrupted or replaced; delete {path} and try again."
        )
    if expected is None and prefix is not None and not actual.startswith(prefix):
        raise WeightsIntegrityError(
            f"The weights file for {name} is not the expected file (sha256 {actual[:12]}..., "
            f"expected it to start with {prefix}). Delete {path} and try again."
        )
    if expected is None and prefix is None:
        raise WeightsIntegrityError(f"{name} has no recorded sha256, so Ganvas refuses to load it.")
    return actual


@contextlib.contextmanager
def atomic_file(target: str | Path) -> Iterator[Path]:
    """A temporary path beside ``target`` to write; renamed onto ``target`` only when the block ends without an
    error, and deleted otherwise. A rename within one folder is atomic, so ``target`` is either absent, the old
    file or the whole new one: never a file cut off half-way (a crash leaves only a ``.part`` file, never read)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
