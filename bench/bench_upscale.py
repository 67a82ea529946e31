"""Benchmark every upscaler in the registry that is available here: quality, speed, memory.

Run ``python -m bench.bench_upscale`` (after ``python -m training.photos``). For each
upscale model it starts a fresh subprocess (so peak memory is that model's alone) that:

* scores PSNR-Y / SSIM-Y (4 px border) at x2 and x4 on the held-out photos with the protocol of
  ``training/evaluation.py`` (centre crops, bicubic-downscaled 8-bit LR), each row against
  bicubic on the same crops; models of another native factor go through ``ops.upscale.upscale``;
* times ``ops.upscale.upscale`` on a 512x512 input at the model's native factor (x4 for
  resamplers), after a small warm-up; models flagged ``slow_on_cpu`` use a 128x128 input and
  192 px crops;
* reports the peak resident memory added by loading and running (``ru_maxrss`` delta) and, for
  Compact networks, FLOPs per output pixel and the share of a dense ``torch.mm`` FLOP rate
  measured in the same process.

Hub models that cannot be fetched are listed as skipped. The table is printed and written to
``bench/results/upscale.md``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from models.catalog import get_spec, list_models
from models.registry import Task
from training.evaluation import (
    bicubic_up,
    flops_per_output_pixel,
    make_lr,
    psnr_y,
    ssim_y,
    val_crops,
    val_photos,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "upscale.md"


def matmul_gflops(n: int = 1024, reps: int = 5) -> float:
    """Dense float32 ``torch.mm`` rate on this machine with the current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def compact_flops_per_pixel(module: torch.nn.Module) -> float | None:
    """FLOPs per output pixel of a spandrel Compact network (convolutions only), else None."""
    inner = getattr(module, "model", module)
    if type(inner).__name__ != "SRVGGNetCompact":
        return None
    return flops_per_output_pixel(inner.num_feat, inner.num_conv, inner.upscale)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def worker(model_id: str, photos: Path, crop: int, threads: int) -> dict:
    """Measure one model in this process; returns a JSON-able row."""
    from core.image import ImageData
    from models.loaders import load_model
    from ops.upscale import upscale

    torch.set_num_threads(threads)
    spec = get_spec(model_id)
    slow = spec.slow_on_cpu
    crop = 192 if slow else crop
    time_size = 128 if slow else 512
    base_rss = _peak_rss_mb()
    model = load_model(spec, torch.device("cpu"), torch.float32)
    row: dict = {"id": spec.id, "title": spec.title, "native": spec.scale, "crop": crop}
    for scale in (2, 4):
        vals = {"pb": [], "pm": [], "sb": [], "sm": []}
        for _, hr in val_crops(photos, crop, scale):
            lr = make_lr(hr, scale)
            out = upscale(ImageData(rgb=lr), model, scale).rgb
            base = bicubic_up(lr, scale)
            vals["pb"].append(psnr_y(base, hr))
            vals["pm"].append(psnr_y(out, hr))
            vals["sb"].append(ssim_y(base, hr))
            vals["sm"].append(ssim_y(out, hr))
        row[f"x{scale}"] = {k: sum(v) / len(v) for k, v in vals.items()}
    t_scale = spec.scale if spec.scale > 0 else 4
    upscale(ImageData(rgb=torch.rand(1, 3, 64, 64)), model, t_scale)
    x = ImageData(rgb=torch.rand(1, 3, time_size, time_size))
    t0 = time.perf_counter()
    upscale(x, model, t_scale)
    secs = time.perf_counter() - t0
    out_px = (time_size * t_scale) ** 2
    row.update(time_input=time_size, time_scale=t_scale, seconds=secs, mp_per_s=out_px / secs / 1e6)
    row["peak_rss_mb"] = _peak_rss_mb() - base_rss
    fpp = compact_flops_per_pixel(model.module) if model.module is not None else None
    if fpp is not None:
        mm = matmul_gflops()
        row.update(flops_per_px=fpp, gflops=fpp * out_px / secs / 1e9, mm_gflops=mm)
    return row


def available(spec) -> str | None:
    """None if the weights are here (or fetchable), else the reason they are not."""
    from core.errors import WeightsIntegrityError, WeightsUnavailableError
    from models import weights

    try:
        weights.resolve(spec)
    except (WeightsUnavailableError, WeightsIntegrityError) as exc:
        return str(exc)
    return None


def _fmt(row: dict) -> str:
    cells = [f"{row['title']} (`{row['id']}`)", f"x{row['native']}" if row["native"] else "any"]
    for s in (2, 4):
        m = row[f"x{s}"]
        cells.append(f"{m['pm']:.2f} ({m['pm'] - m['pb']:+.2f})")
        cells.append(f"{m['sm']:.4f} ({m['sm'] - m['sb']:+.4f})")
    cells.append(f"{row['seconds']:.2f} s ({row['time_input']}² x{row['time_scale']})")
    cells.append(f"{row['mp_per_s']:.2f}")
    cells.append(f"{row['peak_rss_mb']:.0f}")
    if "flops_per_px" in row:
        cells.append(
            f"{row['flops_per_px'] / 1e3:.1f} k; {row['gflops']:.1f}/{row['mm_gflops']:.0f} GFLOP/s "
            f"({100 * row['gflops'] / row['mm_gflops']:.0f} %)"
        )
    else:
        cells.append("")
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    """Run every available upscaler in its own subprocess and write the markdown table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=Path, default=ROOT / "data" / "photos")
    ap.add_argument("--crop", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--only", nargs="*", help="model ids to run (default: all upscalers)")
    args = ap.parse_args(argv)
    if args.worker:
        sys.stdout.write(json.dumps(worker(args.worker, args.photos, args.crop, args.threads)) + "\n")
        return 0

    lines, notes = [], []
    for spec in list_models(Task.UPSCALE):
        if args.only and spec.id not in args.only:
            continue
        why = available(spec)
        if why:
            notes.append(f"- skipped `{spec.id}`: {why}")
            continue
        cmd = [
            sys.executable,
            "-m",
            "bench.bench_upscale",
            "--worker",
            spec.id,
            "--photos",
            str(args.photos),
            "--crop",
            str(args.crop),
            "--threads",
            str(args.threads),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            notes.append(f"- failed `{spec.id}`: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        lines.append(_fmt(json.loads(proc.stdout.strip().splitlines()[-1])))
        sys.stderr.write(f"done {spec.id}\n")
    n_val = len(val_photos(args.photos))
    header = [
        "# Upscaler benchmark",
        "",
        f"{n_val} held-out photos, centre crops of {args.crop} px (192 px for models flagged slow on CPU), LR = "
        "antialiased bicubic downscale rounded to 8 bits; PSNR-Y (dB) / SSIM-Y with a 4 px border, "
        "the gain over bicubic on the same crops in brackets. Speed: `ops.upscale.upscale` on this "
        f"machine with {args.threads} thread{'s' if args.threads != 1 else ''} (shared CPU; timings are noisy). "
        "Memory: peak RSS added by loading and running the model (MB).",
        "",
        "| model | native | x2 PSNR-Y | x2 SSIM-Y | x4 PSNR-Y | x4 SSIM-Y | time | MP/s out | peak MB | "
        "FLOPs/px; achieved vs torch.mm |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    text = "\n".join([*header, *lines, "", *notes]) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
