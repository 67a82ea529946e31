"""The file type of each output of a batch: each input's own (``keep``), or PNG, JPEG or WebP for all.

A type chosen by name may hold less than the picture: what it cannot hold is given up with a note (transparency
flattened onto white for JPEG, 16 bits reduced to 8 outside PNG), never a reason to stop the batch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch stays unloaded: the CLI's parser reads FORMATS before it loads
    from core.image import ImageData

#: the choices of ``--format``
FORMATS = ("keep", "png", "jpg", "webp")
#: JPEG and WebP quality of a batch's outputs unless ``--quality`` says otherwise (about a third of the size of
#: 100 on photos, with no artefact visible at 100 %)
DEFAULT_QUALITY = 92
_NO_ALPHA = (".jpg", ".jpeg", ".bmp")
_NAMES = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".webp": "WebP", ".tif": "TIFF", ".tiff": "TIFF"}


def output_suffix(src: str | Path, fmt: str | None, animated: bool = False) -> str:
    """The suffix the output of ``src`` gets under ``fmt``: ``keep`` keeps the input's (a still GIF becomes a
    PNG: the result has more than 256 colours); an animation keeps its own kind where ``fmt`` names a type of
    one picture (JPEG), and ``png`` makes it an APNG. None: PNG, and an animation its own kind."""
    fmt = fmt or ("keep" if animated else "png")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    suffix = Path(src).suffix
    if fmt == "keep" or (animated and fmt == "jpg"):
        return ".png" if suffix.lower() == ".gif" and not animated else suffix
    return f".{fmt}"


def format_note(src: str | Path, fmt: str | None, animated: bool) -> str | None:
    """Why the output of ``src`` is not of the type ``fmt`` names, or None when it is."""
    name = Path(src).name
    if animated and fmt == "jpg":
        return f"{name} is an animation and JPEG holds one picture: it stays {Path(src).suffix.lstrip('.').upper()}."
    if fmt == "keep" and Path(src).suffix.lower() == ".gif" and not animated:
        return f"{name}: GIF holds 256 colours, fewer than the result has: it is written as PNG."
    return None


def fit_for(data: ImageData, path: str | Path, name: str) -> tuple[ImageData, list[str]]:
    """``data`` as the file type of ``path`` can hold it, with a note (naming ``name``) for each thing given up:
    transparency flattened onto white where the type has none, 16 bits per channel reduced to 8 outside PNG."""
    suffix = Path(path).suffix.lower()
    kind = _NAMES.get(suffix, suffix.lstrip(".").upper())
    notes = []
    if suffix in _NO_ALPHA and data.alpha is not None and not bool((data.alpha >= 1 - 0.5 / 65535).all()):
        data = flatten(data)
        notes.append(f"{name} has transparency, which {kind} cannot hold: it is flattened onto white.")
    if data.bit_depth == 16 and suffix != ".png":
        data = replace(data, bit_depth=8)
        notes.append(f"{name} has 16 bits per channel; {kind} is written with 8.")
    return data, notes


def flatten(data: ImageData) -> ImageData:
    """The picture composited over white; alpha dropped."""
    if data.alpha is None:
        return data
    return data.with_pixels(data.rgb * data.alpha + (1 - data.alpha), None)
