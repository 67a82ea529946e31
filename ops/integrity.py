"""Damage that Pillow lets through, found from a file's own structure before its pixels are decoded.

* A PNG or JPEG that holds the data of only part of the picture its header announces decodes without a word
  (Pillow leaves the missing rows of a PNG black; libjpeg fills the missing blocks of a JPEG with grey and
  warns, and Pillow drops the warning): :func:`png_truncated` and :func:`jpeg_truncated` tell.
* A PNG text chunk that inflates past Pillow's limits (``PngImagePlugin.MAX_TEXT_CHUNK`` for one chunk,
  ``MAX_TEXT_MEMORY`` for all) makes Pillow refuse the whole picture: :func:`without_large_text` gives a copy of
  the file without such chunks, so that the picture is read and the text alone is left behind.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
#: channels per pixel of each PNG colour type (gray, RGB, palette, gray + alpha, RGBA)
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: Adam7 passes: (first column, first row, column step, row step)
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
#: JPEG frames coded with Huffman tables: baseline, extended sequential, progressive
_HUFFMAN_FRAMES = (0xC0, 0xC1, 0xC2)
#: a marker inside entropy-coded data: 0xFF followed by neither a stuffed 0x00, a restart marker nor a fill byte
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_INFLATE_STEP = 1 << 22


def _png_chunks(fh: BinaryIO) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset of its data, length) of each chunk of a PNG, up to IEND or the end of the file; the file's
    position is set before each chunk is yielded, so the caller may read its data."""
    pos = len(PNG_SIGNATURE)
    while True:
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            return
        length, kind = struct.unpack(">I4s", head)
        yield kind, pos + 8, length
        if kind == b"IEND":
            return
        pos += 12 + length


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlaced: bool) -> int:
    """Bytes of a PNG's image data once inflated: each row of each pass, with its filter byte."""
    bits = _PNG_CHANNELS.get(colour, 4) * depth
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        w, h = max(0, -(-(width - x0) // dx)), max(0, -(-(height - y0) // dy))
        if w and h:
            total += h * (1 + -(-(w * bits) // 8))
    return total


def png_truncated(fh: BinaryIO) -> bool:
    """True when the image data (IDAT chunks) of the PNG in ``fh`` inflates to fewer bytes than the picture its
    header announces needs."""
    fh.seek(len(PNG_SIGNATURE))
    head = fh.read(25)
    if len(head) < 25 or head[4:8] != b"IHDR":
        return False  # Pillow refuses it with its own error
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[8:21])
    need = _png_raw_size(width, height, depth, colour, interlace == 1)
    inflate, got = zlib.decompressobj(), 0
    for kind, _, length in _png_chunks(fh):
        if kind != b"IDAT":
            continue
        data = fh.read(length)
        try:
            while data and got < need:  # a step at a time: memory stays one step's size
                got += len(inflate.decompress(data, _INFLATE_STEP))
                data = inflate.unconsumed_tail
        except zlib.error:
            return False  # damaged data: Pillow's decoder says so itself
        if got >= need or inflate.eof:
            break
    return got < need


def jpeg_truncated(fh: BinaryIO) -> bool:
    """True when the entropy-coded data of the Huffman-coded JPEG in ``fh`` is too short for the frame its header
    declares. Every 8x8 block of every component costs at least one bit (its DC code), so a frame of N blocks
    needs at least N / 8 bytes of scan data; a file cut short and closed with an end marker has less."""
    data = fh.read()
    pos, scan_bytes, blocks = 2, 0, None
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False  # not where a marker belongs: damage Pillow reports itself
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos + 4 : pos + 2 + length]
        pos += 2 + length
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header
            if marker not in _HUFFMAN_FRAMES:
                return False  # arithmetic coding can spend less than a bit per block
            blocks = _jpeg_blocks(segment)
            if blocks is None:
                return False
        elif marker == 0xDA:  # a scan: its entropy-coded data runs to the next marker
            found = _MARKER.search(data, pos)
            end = found.start() if found else len(data)
            scan_bytes += end - pos
            pos = end
    return blocks is not None and scan_bytes * 8 < blocks


def gif_extent(fh: BinaryIO) -> tuple[int, int] | None:
    """(width, height) that the GIF in ``fh`` grows to: its logical screen, widened by any frame whose extent
    reaches past it (Pillow grows the picture to such a frame, and fills a disposed frame's whole extent, when
    it seeks to it; a 2-frame file can ask for 65535x65535). None when the blocks cannot be walked (the decoder
    then reports the damage)."""
    head = fh.read(13)
    if len(head) < 13 or head[:3] != b"GIF":
        return None
    width, height = struct.unpack("<HH", head[6:10])
    if head[10] & 0x80:
        fh.seek(3 << ((head[10] & 7) + 1), 1)  # the global colour table
    while True:
        kind = fh.read(1)
        if kind == b"\x21":  # an extension: its label, then data sub-blocks
            fh.read(1)
        elif kind == b"\x2c":  # a frame: where it lies, its colour table, then its data sub-blocks
            desc = fh.read(9)
            if len(desc) < 9:
                return None
            x, y, w, h = struct.unpack("<HHHH", desc[:8])
            width, height = max(width, x + w), max(height, y + h)
            if desc[8] & 0x80:
                fh.seek(3 << ((desc[8] & 7) + 1), 1)
            fh.read(1)  # the LZW code size
        else:  # the trailer, or the end of a file cut short: every frame seen so far counts
            return width, height
        while (size := fh.read(1)) and size != b"\x00":
            fh.seek(size[0], 1)
        if not size:
            return width, height


def jpeg_grey_rows(img: Image.Image) -> int:
    """Rows of pixels at the bottom of the baseline JPEG ``img`` (opened, not yet decoded) that decode to flat
    mid-grey (128, 128, 128): what libjpeg gives for the blocks of a file whose data stopped early (a missing
    block's coefficients are zero, and zero is mid-grey). Decoded at 1/8 scale by DCT scaling, which keeps that
    grey, so the check costs 1/64 of a full decode; 0 for a progressive JPEG, whose missing scans blur instead."""
    if img.format != "JPEG" or img.info.get("progressive") or img.info.get("progression"):
        return 0
    height = img.height  # draft() makes the image its reduced size
    img.draft("RGB", (max(1, img.width // 8), max(1, height // 8)))
    small = np.asarray(img.convert("RGB"), dtype=np.int16)
    flat = (np.abs(small - 128) <= 1).all(axis=(1, 2))
    rows = len(flat) - int(np.flatnonzero(~flat)[-1]) - 1 if not flat.all() else len(flat)
    return round(rows * height / max(1, small.shape[0]))


def _jpeg_blocks(frame: bytes) -> int | None:
    """Blocks of 8x8 samples in all components of a JPEG frame header's picture, or None when it declares none
    (a height given later, in a DNL marker)."""
    if len(frame) < 6:
        return None
    height, width, count = struct.unpack(">HHB", frame[1:6])
    comps = [(frame[6 + 3 * i + 1] >> 4, frame[6 + 3 * i + 1] & 15) for i in range(count) if 8 + 3 * i < len(frame)]
    if not height or not width or not comps or any(h == 0 or v == 0 for h, v in comps):
        return None
    hmax, vmax = max(h for h, _ in comps), max(v for _, v in comps)
    return sum(
        math.ceil(math.ceil(width * h / hmax) / 8) * math.ceil(math.ceil(height * v / vmax) / 8) for h, v in comps
    )


def _text_size(kind: bytes, data: bytes) -> int:
    """The size Pillow gives a text chunk's text once inflated (at most a byte past its limit for one chunk)."""
    limit = PngImagePlugin.MAX_TEXT_CHUNK
    _, _, rest = data.partition(b"\x00")
    if kind == b"zTXt":
        compressed = rest[1:]
    elif kind == b"iTXt" and len(rest) >= 2 and rest[0] == 1:
        compressed = rest[2:].split(b"\x00", 2)[-1]
    else:
        return len(rest)
    try:
        return len(zlib.decompressobj().decompress(compressed, limit + 1))
    except zlib.error:
        return 0  # Pillow drops text it cannot inflate


def large_text_chunks(fh: BinaryIO) -> list[tuple[int, int]]:
    """(offset, length) of each text chunk of the PNG in ``fh`` that Pillow would refuse the file for: one over
    its chunk limit, or one that takes the text past its total limit."""
    one, total_limit = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY
    dropped, total = [], 0
    for kind, offset, length in _png_chunks(fh):
        if kind not in _TEXT_CHUNKS:
            continue
        size = _text_size(kind, fh.read(length))
        if size > one or total + size > total_limit:
            dropped.append((offset - 8, length + 12))
        else:
            total += size
    return dropped


def without_large_text(fh: BinaryIO) -> tuple[bytes, int] | None:
    """A copy of the PNG in ``fh`` without the text chunks Pillow would refuse the file for, and how many were
    left out; None when it has none (the file is read as it is)."""
    dropped = large_text_chunks(fh)
    if not dropped:
        return None
    fh.seek(0)
    data = fh.read()
    parts, start = [], 0
    for begin, size in dropped:
        parts.append(data[start:begin])
        start = begin + size
    parts.append(data[start:])
    return b"".join(parts), len(dropped)
