"""The app's context, which every tab is given, and the result files it writes and names."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.image import ImageData
from models.defaults import Defaults
from models.registry import Registry
from models.runtime import ModelCache
from ops.convert import save_image

#: how long the app keeps result files (its own and Gradio's copies), and how often it looks for old ones
RESULTS_KEPT_SECONDS = 24 * 3600
PRUNE_EVERY_SECONDS = 3600

#: results with at least this many pixels are written with zlib level 1 (see AppContext.save)
FAST_PNG_PIXELS = 4_000_000


@dataclass
class AppContext:
    """State shared by the tabs: created once in ``build_demo()`` and passed in, never global."""

    cache: ModelCache
    outdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ganvas-")))
    #: results older than this are deleted (a Space serves many people for weeks: its disk must not fill up)
    keep_seconds: float = RESULTS_KEPT_SECONDS
    #: each task's default, resolved at start-up (``build_demo``); None = the registry's offline defaults
    defaults: Defaults | None = None
    #: held by the unqueued events that decode a picture (the inpaint canvas): outside the queue's concurrency
    #: groups, they still run one at a time, so their memory counts once against the bound
    canvas_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _last_prune: float = field(default=0.0, repr=False)
    _prune_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.defaults is None:
            self.defaults = Defaults.offline(self.cache.registry)

    @property
    def registry(self) -> Registry:
        return self.cache.registry

    def out_path(self, stem: str, suffix: str = ".png") -> Path:
        """A fresh file path in the app's output folder: ``{stem}{suffix}`` in a folder of its own, so
        a download keeps the plain name (``photo-x4.png``) and no two results overwrite each other."""
        if time.time() - self._last_prune > PRUNE_EVERY_SECONDS:
            self.prune()
        folder = self.outdir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{safe_stem(stem)}{suffix}"

    def prune(self) -> int:
        """Delete the results older than ``keep_seconds``; returns how many were deleted."""
        with self._prune_lock:
            now = time.time()
            self._last_prune = now
            removed = 0
            for entry in self.outdir.iterdir() if self.outdir.is_dir() else ():
                try:
                    if now - entry.stat().st_mtime <= self.keep_seconds:
                        continue
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                    removed += 1
                except OSError:  # gone already, or in use: the next prune tries again
                    continue
            return removed

    def save(self, image: ImageData, stem: str) -> str:
        """Write a result as PNG (alpha, 16-bit and EXIF kept) and return its path. Large results are written
        with fast compression, since the user waits for them: zlib level 1 writes a photo upscaled to 8192x5440
        in about a quarter of level 6's time, into a file about 30% larger."""
        level = 1 if image.width * image.height >= FAST_PNG_PIXELS else 6
        return str(save_image(image, self.out_path(stem), png_level=level))


def safe_stem(stem: str, limit: int = 80) -> str:
    """``stem`` as a portable file name: letters, digits, ``.``, ``_`` and ``-`` (others become ``-``)."""
    clean = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+", "-", stem)).strip("-.")[:limit].strip("-.")
    return clean or "result"


def input_stem(value: Any) -> str | None:
    """The file name (without suffix) a Gradio image value came from, or None when it has none (an array,
    an editor value without a file). Uploads keep their names, so results can be named after them."""
    if isinstance(value, dict):
        value = value.get("background") if "background" in value else value.get("path") or value.get("orig_name")
        if isinstance(value, dict):
            value = value.get("path")
    if isinstance(value, (str, Path)) and str(value):
        return Path(value).stem or None
    return None


def result_stem(value: Any, what: str) -> str:
    """A result's file name: its input's name and what was done (``photo-x4``), or ``what`` alone."""
    stem = input_stem(value)
    return f"{stem}-{what}" if stem else what
