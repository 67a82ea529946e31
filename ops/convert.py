"""The edges of the image convention (``core.image``): files, PIL images and PNG bytes in and out.

Reading applies EXIF orientation and keeps bit depth, alpha, EXIF, ICC, DPI and XMP; writing refuses a
file type that would lose any of them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import zlib
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image, ImageOps

from core.errors import InvalidInputError
from core.image import ImageData, check_pixels, from_numpy, to_numpy
from ops import integrity, png16

_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
# ImageDescription, Make, Model, Orientation, Software, DateTime, Artist, Copyright
_TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x8298)

#: The largest print resolution carried over: JPEG stores it in 16 bits (a damaged file can claim 4294967295).
MAX_DPI = 65535

log = logging.getLogger("ganvas")

ImageSource = Union[str, Path, Image.Image, np.ndarray, "ImageData"]


# ----------------------------------------------------------------------------------------- in


def load_image(src: ImageSource, max_pixels: int | None = None) -> ImageData:
    """Open a path, PIL image or numpy array as :class:`ImageData` (EXIF orientation applied)."""
    if isinstance(src, ImageData):
        return src
    if isinstance(src, np.ndarray):
        return from_numpy(src)
    if isinstance(src, Image.Image):
        return from_pil(src, max_pixels=max_pixels)
    path = Path(src)
    with open_image(path, max_pixels) as img:
        if _is_16bit_colour(path, img):
            return _load_16bit_colour(path, img)
        decode(img, path.name)
        return from_pil(img, max_pixels=max_pixels)


#: The file formats Ganvas reads (Pillow's names), and nothing else Pillow could: each decoder is code that reads
#: a visitor's bytes, and some of the rest allocate what a damaged header asks before any size check of ours
#: can see it (a fuzzed ICNS file took 15.8 GB).
#: (A multi-picture JPEG, MPO, is opened by the JPEG entry.)
READ_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "ICO", "PPM", "TGA")


def open_image(src: str | Path | BinaryIO, max_pixels: int | None = None, name: str | None = None) -> Image.Image:
    """The image file at ``src`` (a path, or a binary file read from its start) opened lazily: its header read
    and its size checked against ``max_pixels`` (by default the working limit) before any pixel is decoded.
    ``name`` names it in messages (by default the file's name)."""
    if isinstance(src, (str, Path)):
        path = Path(src)
        name = name or path.name
        try:
            if not path.is_file():
                raise InvalidInputError(f"No image file at {_shown(path)}.")
            with open(path, "rb") as fh:
                copy = _without_large_text(fh, name)
        except OSError as exc:  # a name too long for the system, a file that may not be read
            log.info("opening %s failed: %s", path, exc)
            raise InvalidInputError(f"Cannot read {_shown(path)}: {_os_reason(exc)}.") from exc
        source: str | Path | BinaryIO = path if copy is None else copy
    else:
        name = name or "The image"
        src.seek(0)
        source = _without_large_text(src, name) or src
    # Ganvas checks every size against its own limit below (core.image.max_pixels, which a server may raise):
    # Pillow's fixed one would warn or refuse first
    Image.MAX_IMAGE_PIXELS = None
    try:
        Image.init()  # with a format list Pillow registers only its five commonest plugins on its own
        img = Image.open(source, formats=READ_FORMATS)
    except Exception as exc:  # PIL raises several unrelated types for unreadable files
        log.info("opening %s failed: %s: %s", name, type(exc).__name__, exc)
        raise InvalidInputError(
            f"{name} is not an image Ganvas can read (PNG, JPEG, WebP, GIF, BMP, TIFF, ICO, PPM and TGA are)."
        ) from exc
    try:
        _check_pixels(img.size, max_pixels, name)
        if img.format == "GIF":  # a frame may grow the picture when it is reached (see integrity.gif_extent)
            grown = _gif_extent(source)
            if grown and grown != img.size:
                _check_pixels(grown, max_pixels, name)
    except Exception:
        img.close()
        raise
    return img


def _gif_extent(source: str | Path | BinaryIO) -> tuple[int, int] | None:
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            return integrity.gif_extent(fh)
    start = source.tell()
    try:
        source.seek(0)
        return integrity.gif_extent(source)
    finally:
        source.seek(start)


def _without_large_text(fh: BinaryIO, name: str) -> io.BytesIO | None:
    """For a PNG with a text chunk too large for Pillow (which refuses the whole file for it), a copy without
    that text: the picture is read, its text left behind. None for any other file."""
    start = fh.tell()
    is_png = fh.read(len(integrity.PNG_SIGNATURE)) == integrity.PNG_SIGNATURE
    copy = integrity.without_large_text(fh) if is_png else None
    fh.seek(start)
    if copy is None:
        return None
    data, dropped = copy
    log.info("%s: %d text chunk(s) too large to read were left out", name, dropped)
    return io.BytesIO(data)


def decode(img: Image.Image, name: str) -> None:
    """Decode the pixels of an image that :func:`open_image` opened, or refuse it in our words."""
    source = getattr(img, "filename", "") or img.fp  # a PNG may have to be read again, below
    if img.format in ("JPEG", "MPO") and _checked(img.fp, integrity.jpeg_truncated):
        raise InvalidInputError(_truncated(name, img.size))
    try:
        img.load()
    except Exception as exc:  # the decoder's own words go to the log; the person gets ours
        log.info("decoding %s failed: %s: %s", name, type(exc).__name__, exc)
        raise InvalidInputError(
            f"{name} is damaged or truncated: its pixels could not be decoded. If another program "
            "opens it, save it again from there as PNG or JPEG."
        ) from exc
    if img.format == "PNG":
        last = np.asarray(img.crop((0, img.height - 1, img.width, img.height)))
        if _may_lack_rows(last, bool(img.info.get("interlace"))):
            _check_png_rows(source, img.size, name)


def _may_lack_rows(last_row: np.ndarray, unsure: bool) -> bool:
    """Whether a decoded PNG may lack rows: the decoders leave the rows its data does not reach at 0, so its last
    row is 0 throughout; ``unsure`` where the last row tells nothing (interlaced, any row may be the one
    missing). Only then is the file read again."""
    return unsure or not last_row.any()


def _check_png_rows(source: str | Path | BinaryIO, size: tuple[int, int], name: str) -> None:
    """Refuse a PNG whose image data inflates to fewer rows than its header announces: Pillow decodes one
    without a word (the missing rows black), where a viewer says that the file is truncated."""
    with open(source, "rb") if isinstance(source, (str, Path)) else contextlib.nullcontext(source) as fh:
        if _checked(fh, integrity.png_truncated):
            raise InvalidInputError(_truncated(name, size))


def check_whole(src: str | Path | BinaryIO, name: str, decoded: np.ndarray) -> None:
    """Refuse the PNG or JPEG file ``src`` when it holds only part of the picture its header announces, given the
    picture as another decoder made it (``decoded``, rows first: Gradio's image editor decodes its own)."""
    size = (int(decoded.shape[1]), int(decoded.shape[0]))
    with open(src, "rb") if isinstance(src, (str, Path)) else contextlib.nullcontext(src) as fh:
        fh.seek(0)
        head = fh.read(29)
        if head[:8] == integrity.PNG_SIGNATURE and len(head) == 29:
            # converted to RGBA: an alpha channel the decoder added is 255 and a palette's first colour may be
            # any colour, so the colour channels of a palette file tell nothing
            last = decoded[-1][..., :3] if decoded.ndim == 3 else decoded[-1]
            if _may_lack_rows(last, unsure=head[28] == 1 or head[25] == 3):
                _check_png_rows(fh, size, name)
        elif head[:2] == b"\xff\xd8" and _checked(fh, integrity.jpeg_truncated):
            raise InvalidInputError(_truncated(name, size))


def _checked(fh: BinaryIO, check) -> bool:
    """``check(fh)`` from the start of the file, the file's position kept; False when the file cannot be read
    that far (the decoder says what is wrong with it)."""
    position = fh.tell()
    try:
        fh.seek(0)
        return check(fh)
    except (OSError, ValueError, struct.error):
        return False
    finally:
        fh.seek(position)


def _truncated(name: str, size: tuple[int, int]) -> str:
    return (
        f"{name} is truncated: it holds only part of the {size[0]}x{size[1]} picture its header announces (a "
        "download or copy that stopped early, or a damaged file). Get the file again."
    )


def _shown(path: Path, limit: int = 200) -> str:
    """A path for a message, cut to about ``limit`` characters (a name can be as long as a user makes it)."""
    text = str(path)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _os_reason(exc: OSError) -> str:
    """Why the system refused a file, in words (its own text without the error number)."""
    return (exc.strerror or "the system refused it").lower()


def probe_image(src: str | Path | BinaryIO, max_pixels: int | None = None, name: str | None = None) -> tuple[int, int]:
    """(width, height) of the image file at ``src`` from its header alone, with load_image's messages for a
    file that is no image or too large (``name`` names it there): a batch checks every file this way before it
    works on the first, and the app every upload before it is queued."""
    with open_image(src, max_pixels, name) as img:
        return img.size


def frame_count(path: str | Path) -> int:
    """How many frames the file at ``path`` holds (an animated GIF, WebP or APNG has several; Ganvas works on
    the first); 1 for a still image, or a file that :func:`load_image` refuses (it says why)."""
    try:
        with open_image(path) as img:  # the size is checked before the frames are counted
            return int(getattr(img, "n_frames", 1) or 1)
    except Exception:
        return 1


def animation_note(path: str | Path) -> str | None:
    """The sentence telling the user that only the first frame of an animation is used, or None for a still."""
    frames = frame_count(path)
    return f"{Path(path).name} is an animation of {frames} frames: only the first is used." if frames > 1 else None


def load_notes(path: str | Path) -> list[str]:
    """Sentences on what of the file at ``path`` Ganvas does not carry into its results (frames after the first,
    text too large to read, EXIF entries too damaged to write back), and on a JPEG that looks cut short. Empty
    for a file carried whole, and for one :func:`load_image` refuses (it says why)."""
    name = Path(path).name
    notes = [note] if (note := animation_note(path)) else []
    try:
        with open(path, "rb") as fh:
            is_png = fh.read(len(integrity.PNG_SIGNATURE)) == integrity.PNG_SIGNATURE
            fh.seek(0)
            large = len(integrity.large_text_chunks(fh)) if is_png else 0
        with open_image(path) as img:
            exif_whole = _exif_carries_whole(img)
            grey = integrity.jpeg_grey_rows(img)
    except Exception:
        return notes
    if grey:
        notes.append(
            f"{name} may be truncated: its last {grey} rows are flat grey, as a JPEG whose data stopped early "
            "decodes. If so, get the file again."
        )
    if large:
        notes.append(f"{name}: {large} text chunk(s) too large to read were left out; the picture is whole.")
    if not exif_whole:
        notes.append(f"{name}: EXIF entries too damaged to write back were left out; the picture is whole.")
    return notes


def _exif_carries_whole(img: Image.Image) -> bool:
    """True when the EXIF block of ``img`` (if any) is written back entry for entry; a TIFF's own layout tags,
    which describe the TIFF file rather than the photo, do not count."""
    original = img.getexif()
    if not len(original) or img.format == "TIFF":
        return True
    try:
        copy = Image.Exif()
        copy.load(original.tobytes())
        copy.tobytes()
    except Exception:
        return False
    return True


def _check_pixels(size: tuple[int, int], max_pixels: int | None, name: str = "The image") -> None:
    if size[0] <= 0 or size[1] <= 0:
        raise InvalidInputError("The image is empty (zero width or height).")
    check_pixels(*size, name, max_pixels)


def _exif_without_orientation(img: Image.Image) -> tuple[bytes | None, int]:
    """(EXIF bytes with orientation reset to 1, original orientation); the image is untouched."""
    original = img.getexif()
    orientation = int(original.get(_ORIENTATION, 1) or 1)
    if not len(original):
        return None, orientation
    if img.format == "TIFF":
        # a TIFF's own directory holds its layout (size, strips, bits per sample): carrying that
        # into another file describes the wrong image, so keep only what describes the photo
        exif = _copy_exif(original, _TIFF_DESCRIPTIVE_TAGS)
        if not len(exif):
            return None, orientation
    else:
        exif = Image.Exif()
        try:
            exif.load(original.tobytes())
        except Exception:  # an entry that cannot be encoded: copy entry by entry, and drop what fails below
            exif = _copy_exif(original, [t for t in original if t not in (_EXIF_IFD, _GPS_IFD)])
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    return _writable_exif(exif), orientation


def _copy_exif(original: Image.Exif, tags) -> Image.Exif:
    """The given top-level ``tags`` of ``original`` and its EXIF and GPS directories, in a new block."""
    exif = Image.Exif()
    for tag in tags:
        if tag in original:
            exif[tag] = original[tag]
    for ifd in (_EXIF_IFD, _GPS_IFD):
        try:
            sub = original.get_ifd(ifd)
        except Exception:  # a damaged directory is left behind
            continue
        if sub:
            exif[ifd] = dict(sub)
    return exif


def _writable_exif(exif: Image.Exif) -> bytes | None:
    """The EXIF block as bytes, leaving out the entries that cannot be written back (a resolution given as
    text, a damaged GPS directory): metadata that cannot travel is dropped, never a reason to refuse a photo."""
    try:
        return exif.tobytes()
    except Exception as exc:
        log.info("EXIF cannot be written back whole (%s); dropping the entries that fail", exc)
    kept = Image.Exif()
    for tag, value in exif.items():
        alone = Image.Exif()
        alone[tag] = value
        try:
            alone.tobytes()
        except Exception:
            continue
        kept[tag] = value
    try:
        return kept.tobytes() if len(kept) else None
    except Exception:
        return None


def _print_info(img: Image.Image) -> dict:
    """``dpi`` and ``xmp`` of an opened file, for :class:`ImageData` (None where it has none)."""
    dpi = img.info.get("dpi")
    try:
        dpi = (float(dpi[0]), float(dpi[1])) if dpi and all(0 < float(d) <= MAX_DPI for d in dpi[:2]) else None
    except (TypeError, ValueError, IndexError):
        dpi = None
    xmp = img.info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return {"dpi": dpi, "xmp": bytes(xmp) if xmp else None}


def from_pil(img: Image.Image, max_pixels: int | None = None) -> ImageData:
    """Convert any PIL mode to :class:`ImageData`; 16-bit grayscale keeps its depth."""
    _check_pixels(img.size, max_pixels)
    return replace(_from_pil(img), **_print_info(img))


def _from_pil(img: Image.Image) -> ImageData:
    exif, orientation = _exif_without_orientation(img)
    icc = img.info.get("icc_profile")
    if orientation != 1:
        img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        if mode == "I" and arr.max(initial=0) <= 255 and img.format not in ("PNG", "TIFF"):
            depth, scale = 8, 255.0
        else:
            depth, scale = 16, 65535.0
        g = torch.from_numpy(np.clip(arr / scale, 0, 1).astype(np.float32))[None, None]
        return ImageData(g.expand(1, 3, -1, -1).contiguous(), None, depth, True, exif, icc)
    if mode == "F":
        arr = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
        g = torch.from_numpy(arr)[None, None]
        return ImageData(g.expand(1, 3, -1, -1).contiguous(), None, 16, True, exif, icc)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info)
    grayscale = mode in ("1", "L", "LA", "La")
    if mode == "P":
        # A palette may hide colour: judge grayscale-ness from the palette itself.
        img = img.convert("RGBA" if has_alpha else "RGB")
    elif mode == "CMYK" and _icc_space(icc) == b"CMYK":
        # ink separations come to screen colours through their own profile: the result is sRGB, which an
        # untagged file means, and the CMYK profile (which describes no RGB file) stays behind
        img, icc = _cmyk_to_srgb(img, icc), None
    elif mode == "CMYK" or mode == "YCbCr" or mode == "LAB" or mode == "HSV":
        img = img.convert("RGB")
        icc = icc if _icc_space(icc) in (None, b"RGB ") else None
    # 8-bit channels straight into float planes: one float copy of the pixels, divided in place
    arr = torch.from_numpy(np.array(img.convert("RGBA" if has_alpha else "RGB"))).permute(2, 0, 1)[None]
    rgb = torch.empty(1, 3, *arr.shape[-2:]).copy_(arr[:, :3]).div_(255.0)
    alpha = torch.empty(1, 1, *arr.shape[-2:]).copy_(arr[:, 3:4]).div_(255.0) if has_alpha else None
    return ImageData(rgb, alpha, 8, grayscale, exif, icc)


def _icc_space(profile: bytes | None) -> bytes | None:
    """The colour space an ICC profile describes ('RGB ', 'GRAY', 'CMYK', ...; header bytes 16-19), or None."""
    return bytes(profile[16:20]) if profile and len(profile) >= 128 else None


def _cmyk_to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):  # a damaged profile: the plain conversion
        return img.convert("RGB")


def fitting_icc(data: ImageData) -> bytes | None:
    """The image's ICC profile when it describes the file that will be written (a GRAY profile on a gray
    image, an RGB one on a colour image); None when it does not: a grayscale photo painted in colour, say.
    Such a profile is invalid in the new file (libpng warns 'Gray color space not permitted on RGB PNG')."""
    space = _icc_space(data.icc_profile)
    if space is None or space == (b"GRAY" if data.grayscale else b"RGB "):
        return data.icc_profile
    return None


def _png_header(path: Path) -> bytes | None:
    with open(path, "rb") as fh:
        head = fh.read(33)
    if len(head) < 29 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head


def _png_bit_depth(path: Path) -> int | None:
    head = _png_header(path)
    return None if head is None else head[24]


def _png_colour_type(path: Path) -> int | None:
    """0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA (the PNG IHDR field)."""
    head = _png_header(path)
    return None if head is None else head[25]


def _is_16bit_colour(path: Path, img: Image.Image) -> bool:
    # Pillow opens 16-bit colour and gray+alpha PNGs, and 16-bit colour TIFFs, as 8-bit RGB(A); OpenCV keeps
    # all 16 bits.
    if img.format == "PNG":
        return img.mode in ("RGB", "RGBA", "LA") and _png_bit_depth(path) == 16
    if img.format == "TIFF" and img.mode in ("RGB", "RGBA"):
        bits = img.tag_v2.get(258, ())  # BitsPerSample, one value per channel
        return 16 in (bits if isinstance(bits, tuple) else (bits,))
    return False


def _load_16bit_colour(path: Path, img: Image.Image) -> ImageData:
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16:
        decode(img, path.name)
        return from_pil(img)
    if img.format == "PNG" and _may_lack_rows(arr[-1], bool(img.info.get("interlace"))):
        _check_png_rows(path, img.size, path.name)
    gray_alpha = _png_colour_type(path) == 4  # OpenCV reads 16-bit gray+alpha as BGRA with B = G = R
    arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    exif, orientation = _exif_without_orientation(img)
    arr = _apply_orientation(arr, orientation)
    data = from_numpy(arr)
    return replace(data, grayscale=gray_alpha, exif=exif, icc_profile=img.info.get("icc_profile"), **_print_info(img))


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1],
    }
    fn = ops.get(orientation)
    return np.ascontiguousarray(fn(arr)) if fn else arr


# ---------------------------------------------------------------------------------------- out


def to_pil(data: ImageData) -> Image.Image:
    """An 8-bit PIL image for display: L, LA, RGB or RGBA (metadata kept in ``info``)."""
    arr = to_numpy(data, bit_depth=8)
    if data.grayscale:
        img = Image.fromarray(arr[..., 0], "L") if arr.shape[2] == 1 else Image.fromarray(arr, "LA")
    else:
        img = Image.fromarray(arr, "RGBA" if arr.shape[2] == 4 else "RGB")
    if data.exif:
        img.info["exif"] = data.exif
    icc = fitting_icc(data)
    if icc:
        img.info["icc_profile"] = icc
    return img


_XMP_KEY = "XML:com.adobe.xmp"  # the PNG text key XMP lives under
_NO_ALPHA = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}
_FORMAT_NAMES = {".png": "PNG", ".webp": "WebP", ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF", **_NO_ALPHA}


#: file types :func:`save_image` writes (GIF is refused by name: it would drop colours)
WRITABLE_SUFFIXES = (".png", ".webp", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def check_folders(path: str | Path) -> None:
    """Raise :class:`InvalidInputError` if ``path`` (a file or folder to be made) lies under a file: the nearest
    of its parents that exists must be a folder (else writing fails after the work with 'Not a directory')."""
    path = Path(path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InvalidInputError(f"Cannot write {path}: {parent} is a file, not a folder.")
            return


def check_can_save(path: str | Path, has_alpha: bool, bit_depth: int = 8) -> None:
    """Raise :class:`InvalidInputError` if the file type of ``path`` would drop transparency, bit depth
    or colours (call it before long work so nothing is computed for a file that cannot be written)."""
    path = Path(path)
    suffix = path.suffix.lower()
    name = _FORMAT_NAMES.get(suffix, suffix.lstrip(".").upper() or "A file without a suffix")
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder: give a file name such as {path / 'result.png'}.")
    check_folders(path)
    if suffix == ".gif":
        raise InvalidInputError("GIF keeps only 256 colours: save as PNG or WebP instead.")
    if suffix not in WRITABLE_SUFFIXES:
        raise InvalidInputError(
            f"Cannot tell what to write from the name {path.name}: end it in .png, .webp, .jpg, .bmp or .tif."
        )
    if has_alpha and suffix in _NO_ALPHA:
        raise InvalidInputError(f"{name} cannot hold transparency: save as PNG or WebP instead.")
    if bit_depth == 16 and suffix != ".png":
        raise InvalidInputError(f"{name} is written with 8 bits per channel here: save as PNG to keep the 16 bits.")


def save_image(data: ImageData, path: str | Path, png_level: int = 6, quality: int | None = None) -> Path:
    """Write a PNG (or whatever the suffix says) keeping bit depth, alpha, EXIF and ICC; a file type
    that would lose any of them (JPEG/BMP with alpha, 16 bits outside PNG, GIF) is refused. ``png_level``
    is an 8-bit PNG's zlib level (1 = fast, 9 = small); the pixels are the same at every level. ``quality``
    (1-100) is a JPEG's (default 95) and makes a WebP lossy below 100 (by default it is lossless)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _NO_ALPHA and data.alpha is not None and bool((data.alpha >= 1 - 0.5 / 65535).all()):
        data = replace(data, alpha=None)  # an alpha channel with nothing transparent in it loses nothing
    check_can_save(path, data.alpha is not None, data.bit_depth)
    path.parent.mkdir(parents=True, exist_ok=True)
    if data.bit_depth == 16:
        path.write_bytes(encode_png16(data))
        return path
    img = to_pil(data)
    kwargs: dict = {}
    if data.exif:
        kwargs["exif"] = data.exif
    icc = fitting_icc(data)
    if icc:
        kwargs["icc_profile"] = icc
    if data.dpi and suffix != ".webp":  # WebP has no field for it
        kwargs["dpi"] = data.dpi
    if data.xmp and suffix in (".jpg", ".jpeg", ".webp"):
        kwargs["xmp"] = data.xmp
    if data.xmp and suffix == ".png":
        from PIL.PngImagePlugin import PngInfo

        kwargs["pnginfo"] = PngInfo()
        kwargs["pnginfo"].add_itxt(_XMP_KEY, data.xmp.decode("utf-8", "replace"))
    if suffix in (".jpg", ".jpeg"):
        kwargs["quality"] = 95 if quality is None else int(quality)
    if suffix == ".webp":
        if quality is None or quality >= 100:
            kwargs["lossless"] = True
        else:
            kwargs["quality"] = int(quality)
    if suffix == ".png":
        kwargs["compress_level"] = int(png_level)
    img.save(path, **kwargs)
    return path


def encode_png16(data: ImageData) -> bytes:
    """16-bit PNG bytes (gray, gray+alpha, RGB or RGBA) with EXIF and ICC chunks."""
    import cv2

    arr = to_numpy(data, bit_depth=16)
    if arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    elif arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    if arr.shape[2] == 2:  # neither OpenCV nor Pillow writes 16-bit gray+alpha: our own encoder
        png = png16.encode_gray_alpha16(arr)
    else:
        ok, buf = cv2.imencode(".png", arr)
        if not ok:
            raise InvalidInputError("Could not encode the 16-bit PNG.")
        png = buf.tobytes()
    extra = []
    icc = fitting_icc(data)
    if icc:
        extra.append(png16.chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc)))
    if data.exif:
        exif = data.exif[6:] if data.exif.startswith(b"Exif\x00\x00") else data.exif
        extra.append(png16.chunk(b"eXIf", exif))
    if data.dpi:  # pixels per metre, unit 1 (metre), as Pillow writes it
        extra.append(png16.chunk(b"pHYs", struct.pack(">IIB", *(int(d / 0.0254 + 0.5) for d in data.dpi), 1)))
    if data.xmp:  # an uncompressed international text chunk, as Adobe's XMP spec puts XMP in a PNG
        extra.append(png16.chunk(b"iTXt", _XMP_KEY.encode() + b"\x00\x00\x00\x00\x00" + data.xmp))
    return png16.insert_before_idat(png, b"".join(extra))


def png_bytes(data: ImageData) -> bytes:
    """Encode as PNG in memory (used by the UI for downloads)."""
    if data.bit_depth == 16:
        return encode_png16(data)
    buf = io.BytesIO()
    kwargs = {"exif": data.exif} if data.exif else {}
    to_pil(data).save(buf, format="PNG", **kwargs)
    return buf.getvalue()
