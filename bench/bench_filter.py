"""Benchmark the GAN filters: seconds per megapixel on this machine, in one piece and in tiles, and the cost of
the tiles' overlap; plus what bfloat16 and channels-last would change (speed, and the largest difference).

Run ``python -m bench.bench_filter [--repeats N]``. The picture is ``assets/examples/castle.jpg`` (512x340, 0.17
MP), filtered as the Edit tab's step filters it (:func:`ops.filter.gan_filter`). Results go to
``bench/results/filter.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from PIL import Image

from models.catalog import list_models
from models.registry import Task
from models.runtime import ModelCache
from ops.convert import from_pil
from ops.filter import DEFAULT_OVERLAP, gan_filter

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "assets" / "examples" / "castle.jpg"
TILE = 256


def _seconds(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def measure(repeats: int = 1) -> list[str]:
    """Markdown rows: model, way, seconds per MP, largest difference from one piece in float32 (8-bit levels)."""
    img = from_pil(Image.open(PICTURE).convert("RGB"))
    mp = img.width * img.height / 1e6
    cache = ModelCache(device=torch.device("cpu"))
    rows = []
    for spec in list_models(Task.FILTER):
        model = cache.get(spec.id)
        gan_filter(img.with_pixels(img.rgb[..., :64, :64]), model)  # warm-up
        base_s, base = _seconds(lambda m=model: gan_filter(img, m), repeats)
        rows.append(f"| `{spec.id}` | one piece, float32 | {base_s / mp:.1f} | 0 |")
        tiled_s, tiled = _seconds(lambda m=model: gan_filter(img, m, tile=TILE, overlap=DEFAULT_OVERLAP), repeats)
        diff = float((tiled.rgb - base.rgb).abs().max()) * 255
        rows.append(f"| `{spec.id}` | tiles of {TILE}, overlap {DEFAULT_OVERLAP} | {tiled_s / mp:.1f} | {diff:.2f} |")
        for way, dtype, fmt in (
            ("channels-last", torch.float32, torch.channels_last),
            ("bfloat16", torch.bfloat16, torch.contiguous_format),
        ):
            variant = type(model)(spec, model.device, dtype, model.module.to(dtype=dtype, memory_format=fmt))
            s, out = _seconds(lambda v=variant: gan_filter(img, v), repeats)
            diff = float((out.rgb - base.rgb).abs().max()) * 255
            rows.append(f"| `{spec.id}` | one piece, {way} | {s / mp:.1f} | {diff:.2f} |")
            model.module.to(dtype=torch.float32, memory_format=torch.contiguous_format)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1, help="runs per measurement; the fastest counts")
    args = ap.parse_args(argv)
    rows = measure(args.repeats)
    cpu = platform.processor() or platform.machine()
    where = f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    text = "\n".join(
        [
            f"GAN filters on {PICTURE.name} (512x340), {where}; fastest of {args.repeats}.",
            "",
            "| model | way | s/MP | max difference (8-bit levels) |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )
    print(text)
    out = ROOT / "bench" / "results" / "filter.md"
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
