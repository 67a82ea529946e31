"""PNG bytes that neither Pillow nor OpenCV writes: 16-bit gray + alpha, and chunks added to an encoded PNG."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def filter_rows(rows: np.ndarray, bpp: int, block: int = 128) -> bytes:
    """PNG scanlines (H, bytes per row) -> filtered data: per row the filter of the five (none, sub, up,
    average, Paeth) with the smallest sum of absolute signed bytes, the heuristic the PNG spec suggests.
    Blocks of rows (each with the row above it) bound the memory to a few times one block."""
    parts = []
    for start in range(0, rows.shape[0], block):
        lo = max(start - 1, 0)
        filtered = _filter_block(rows[lo : start + block], bpp)
        parts.append(filtered[start - lo :])
    return np.concatenate(parts).tobytes()


def _filter_block(rows: np.ndarray, bpp: int) -> np.ndarray:
    x = rows.astype(np.int16)
    a = np.zeros_like(x)  # the byte bpp to the left
    a[:, bpp:] = x[:, :-bpp]
    b = np.zeros_like(x)  # the byte above
    b[1:] = x[:-1]
    c = np.zeros_like(x)  # above and to the left
    c[1:, bpp:] = x[:-1, :-bpp]
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    options = np.stack([x, x - a, x - b, x - (a + b) // 2, x - paeth]) % 256  # (5, H, W) in 0..255
    cost = np.minimum(options, 256 - options).sum(axis=2)  # |byte as int8|
    best = cost.argmin(axis=0)
    chosen = options[best, np.arange(x.shape[0])].astype(np.uint8)
    return np.concatenate([best.astype(np.uint8)[:, None], chosen], axis=1)


def encode_gray_alpha16(arr: np.ndarray) -> bytes:
    """(H, W, 2) uint16 gray + alpha -> PNG bytes (colour type 4, 16 bits)."""
    h, w = arr.shape[:2]
    rows = np.ascontiguousarray(arr.astype(">u2")).view(np.uint8).reshape(h, w * 4)
    header = struct.pack(">IIBBBBB", w, h, 16, 4, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(filter_rows(rows, bpp=4), 6))
        + chunk(b"IEND", b"")
    )


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def insert_before_idat(png: bytes, chunks: bytes) -> bytes:
    if not chunks:
        return png
    pos = 8
    while pos < len(png):
        length = struct.unpack(">I", png[pos : pos + 4])[0]
        if png[pos + 4 : pos + 8] == b"IDAT":
            return png[:pos] + chunks + png[pos:]
        pos += 12 + length
    return png
