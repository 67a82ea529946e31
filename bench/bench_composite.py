"""Benchmark compositing: a sticker on photos of growing size, each mode the Composite tab offers.

Run ``python -m bench.bench_composite [--threads N] [--repeats R]``. For backgrounds of 1, 4 and 12
megapixels (RGB, and RGBA for the alpha row) it times ``ops.composite.composite`` and
``depth_composite`` with a 256x256 RGBA foreground: placed as it is, rotated and feathered, with a blend
mode, over a transparent background, with depth occlusion, and Poisson (seamless) cloning. Only the
layer's box is computed, so the time should barely grow with the background except for the copy of the
result (and seamless cloning, whose solve OpenCV runs over the background). The median of
``--repeats`` runs after one warm-up is printed and written to ``bench/results/composite.md``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from core.image import ImageData
from ops.composite import composite, depth_composite

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1 MP": (1024, 1024), "4 MP": (2304, 1728), "12 MP": (4000, 3000)}


def _photo(width: int, height: int, alpha: bool) -> ImageData:
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, height, width, generator=g)
    return ImageData(rgb=rgb, alpha=torch.rand(1, 1, height, width, generator=g) if alpha else None)


def _sticker(size: int = 256) -> ImageData:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    inside = (((xx - size / 2) ** 2 + (yy - size / 2) ** 2) < (size * 0.45) ** 2).float()
    rgb = torch.stack([xx / size, yy / size, 1 - xx / size])[None].float()
    return ImageData(rgb=rgb, alpha=inside[None, None])


def cases(bg: ImageData, bg_alpha: ImageData, fg: ImageData) -> dict:
    w, h = bg.size
    x, y = w // 3, h // 3
    depth = torch.linspace(0, 1, w).expand(1, 1, h, w).contiguous()
    return {
        "placed": lambda: composite(bg, fg, x=x, y=y),
        "rotated 30, scale 1.5, feather 4": lambda: composite(bg, fg, x=x, y=y, scale=1.5, rotate=30, feather=4),
        "soft light, opacity 0.7": lambda: composite(bg, fg, x=x, y=y, blend_mode="soft_light", opacity=0.7),
        "over a transparent background": lambda: composite(bg_alpha, fg, x=x, y=y),
        "depth map, softness 0.1": lambda: depth_composite(
            bg, fg, x=x, y=y, bg_depth=depth, fg_depth=0.5, softness=0.1
        ),
        "seamless (Poisson)": lambda: composite(bg, fg, x=x, y=y, seamless=True),
    }


def seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "composite.md"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    fg = _sticker()
    rows: dict[str, list[str]] = {}
    for label, (w, h) in SIZES.items():
        bg, bg_alpha = _photo(w, h, False), _photo(w, h, True)
        for name, fn in cases(bg, bg_alpha, fg).items():
            s = seconds(fn, args.repeats)
            rows.setdefault(name, []).append(f"{s * 1000:.0f} ms")
            print(f"{label:>6}  {name:<34} {s * 1000:8.1f} ms", flush=True)
    threads = f"{args.threads} thread" + ("s" if args.threads != 1 else "")
    lines = [
        "# Composite benchmark",
        "",
        f"A 256x256 RGBA sticker on random backgrounds; median of {args.repeats} runs after a warm-up; CPU, "
        f"{threads}, torch {torch.__version__}, python {platform.python_version()}.",
        "",
        "| case | " + " | ".join(SIZES) + " |",
        "|---|" + "---|" * len(SIZES),
        *(f"| {name} | " + " | ".join(vals) + " |" for name, vals in rows.items()),
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
