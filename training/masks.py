"""Realistic inpainting masks for training and evaluation: free-form brush strokes and boxes.

Shapes are sized relative to the image, so a mask drawn at 128 px and one drawn at 512 px look
alike; the same seed always gives the same mask.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_COVERAGE = 0.05
MAX_COVERAGE = 0.50


def _stroke(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """One brush stroke: a random walk of thick line segments with round joints."""
    h, w = canvas.shape
    side = min(h, w)
    width = max(1, int(round(side * rng.uniform(0.02, 0.10))))
    x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
    angle = rng.uniform(0, 2 * np.pi)
    for _ in range(int(rng.integers(2, 7))):
        angle += rng.uniform(-1.2, 1.2)
        length = side * rng.uniform(0.08, 0.30)
        nx = float(np.clip(x + length * np.cos(angle), 0, w - 1))
        ny = float(np.clip(y + length * np.sin(angle), 0, h - 1))
        cv2.line(canvas, (int(x), int(y)), (int(nx), int(ny)), 1, width, lineType=cv2.LINE_8)
        cv2.circle(canvas, (int(nx), int(ny)), width // 2, 1, -1)
        x, y = nx, ny


def _box(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """One filled rectangle between 10% and 45% of each side."""
    h, w = canvas.shape
    bh = max(1, int(h * rng.uniform(0.10, 0.45)))
    bw = max(1, int(w * rng.uniform(0.10, 0.45)))
    y0 = int(rng.integers(0, h - bh + 1))
    x0 = int(rng.integers(0, w - bw + 1))
    canvas[y0 : y0 + bh, x0 : x0 + bw] = 1


def random_mask(
    h: int, w: int, rng: np.random.Generator, coverage: tuple[float, float] = (MIN_COVERAGE, MAX_COVERAGE)
) -> np.ndarray:
    """A (h, w) bool mask (True = hole) of strokes and boxes whose area lies within ``coverage``.

    A target area is drawn uniformly from ``coverage``; shapes are added until it is reached, and
    a draw that overshoots the upper bound is started again (the rng stream keeps it deterministic).
    """
    lo, hi = coverage
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"coverage must satisfy 0 <= low < high <= 1, got {coverage}")
    if h < 1 or w < 1:
        raise ValueError(f"mask size must be positive, got {h}x{w}")
    canvas = np.zeros((h, w), np.uint8)
    for _ in range(50):
        target = rng.uniform(lo, (lo + hi) / 2 if rng.random() < 0.6 else hi)
        canvas[:] = 0
        use_boxes = rng.random() < 0.3
        for _ in range(200):
            if use_boxes and rng.random() < 0.5:
                _box(canvas, rng)
            else:
                _stroke(canvas, rng)
            if canvas.mean() >= target:
                break
        if lo <= canvas.mean() <= hi:
            return canvas.astype(bool)
    # Tiny images can make every shape overshoot: fall back to an exact-area box.
    canvas[:] = 0
    area = max(1, int(round(h * w * (lo + hi) / 2)))
    bh = min(h, max(1, int(round(np.sqrt(area * h / w)))))
    bw = min(w, max(1, area // bh))
    canvas[:bh, :bw] = 1
    return canvas.astype(bool)
