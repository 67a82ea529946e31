"""Benchmark bfloat16 against float32 for every network upscaler: quality change and speed on this CPU.

Run ``python -m bench.bench_precision [--only ID...]`` (after ``python -m training.photos`` and
``python -m training.illustrations``). For each upscaler with a network (both runs channels-last, as the app
runs them), on ``--crop`` px centre crops of the held-out photos and of the illustration set (x the native
factor, bicubic-downscaled 8-bit LR, as in ``bench_upscale``):

* PSNR-Y of float32 and of bfloat16 against the true picture, and their difference; the largest difference
  of one pixel between the two outputs in 8-bit levels;
* CPU seconds per output megapixel at one thread for each precision (``time.process_time``, steady whatever
  else the shared CPU runs), on a ``--time-size`` input through ``ops.upscale.upscale``.

A model runs in bfloat16 on a CPU with native bfloat16 (``ModelSpec.bfloat16_on_cpu``) only where its PSNR-Y
moves by at most :data:`TOLERANCE_DB` on both sets; the table says which pass. Rows go to
``bench/results/precision.{json,md}`` by model id (``--only`` keeps the other rows).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from bench.bench_upscale import SETS, available
from models.catalog import get_spec, list_models
from models.devices import cpu_native_bfloat16
from models.registry import Task
from training.evaluation import make_lr, psnr_y, val_crops

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
#: The largest change of the mean PSNR-Y (dB) on either set that bfloat16 may make.
TOLERANCE_DB = 0.05


def _quality(model, folder: Path, crop: int) -> tuple[float, float, float]:
    """(mean PSNR-Y float32, bfloat16, largest 8-bit difference between them) at the models' native factor."""
    from core.image import ImageData
    from ops.upscale import upscale

    scale = model["float32"].scale
    p32, p16, worst = [], [], 0.0
    for _, hr in val_crops(folder, crop, scale):
        lr = make_lr(hr, scale)
        o32 = upscale(ImageData(rgb=lr), model["float32"], scale).rgb
        o16 = upscale(ImageData(rgb=lr), model["bfloat16"], scale).rgb
        p32.append(psnr_y(o32, hr))
        p16.append(psnr_y(o16, hr))
        worst = max(worst, float(((o32 * 255).round() - (o16 * 255).round()).abs().max()))
    return sum(p32) / len(p32), sum(p16) / len(p16), worst


def _cpu_seconds_per_mp(model, size: int) -> float:
    """One thread, best of two, in CPU seconds per output megapixel."""
    from core.image import ImageData
    from ops.upscale import upscale

    x = ImageData(rgb=torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)))
    upscale(ImageData(rgb=torch.rand(1, 3, 48, 48)), model, model.scale)
    best = float("inf")
    for _ in range(2):
        t0 = time.process_time()
        upscale(x, model, model.scale)
        best = min(best, time.process_time() - t0)
    return best / ((size * model.scale) ** 2 / 1e6)


def measure(model_id: str, crop: int, time_size: int, threads: int) -> dict:
    from models.loaders import load_model

    torch.set_num_threads(threads)
    spec = get_spec(model_id)
    slow = spec.slow_on_cpu
    crop, time_size = (crop // 2, time_size // 2) if slow else (crop, time_size)
    cpu = torch.device("cpu")
    model = {name: load_model(spec, cpu, dt) for name, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16))}
    row: dict = {"id": spec.id, "title": spec.title, "scale": spec.scale, "crop": crop, "time_size": time_size}
    for set_name in ("photos", "illustrations"):
        folder = SETS[set_name][0]
        p32, p16, worst = _quality(model, folder, crop)
        row[set_name] = {"float32": p32, "bfloat16": p16, "max_levels": worst}
    torch.set_num_threads(1)
    row["cpu_s_per_mp"] = {name: _cpu_seconds_per_mp(m, time_size) for name, m in model.items()}
    sets = ("photos", "illustrations")
    row["passes"] = all(abs(row[s]["bfloat16"] - row[s]["float32"]) <= TOLERANCE_DB for s in sets)
    return row


def render(rows: dict[str, dict]) -> str:
    head = (
        "# bfloat16 against float32\n\n"
        f"Every network upscaler, channels-last in both precisions, at its native factor on centre crops of the "
        f"11 held-out photos and the 8 illustrations (bicubic-downscaled 8-bit LR; crops halved for models "
        f"flagged slow on CPU). PSNR-Y against the true picture; *max diff* = the largest difference of one "
        f"pixel between the two outputs, in 8-bit levels, over both sets. Speed: one thread, CPU seconds per "
        f"output megapixel. A model runs in bfloat16 on a CPU with native bfloat16 (AMX or AVX512-BF16) when "
        f"its PSNR-Y moves by at most {TOLERANCE_DB} dB on both sets. CPU: {platform.processor() or 'x86_64'}, "
        f"native bfloat16 here: {'yes' if cpu_native_bfloat16() else 'no'}.\n\n"
        "| model | photos fp32 / bf16 (dB) | change | illustrations fp32 / bf16 (dB) | change | max diff | "
        "CPU s/MP fp32 | bf16 | speed-up | bf16 on CPU |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows.values():
        if "note" in r:
            continue
        ph, il, t = r["photos"], r["illustrations"], r["cpu_s_per_mp"]
        worst = max(ph["max_levels"], il["max_levels"])
        lines.append(
            f"| `{r['id']}` | {ph['float32']:.2f} / {ph['bfloat16']:.2f} | {ph['bfloat16'] - ph['float32']:+.3f} | "
            f"{il['float32']:.2f} / {il['bfloat16']:.2f} | {il['bfloat16'] - il['float32']:+.3f} | {worst:.0f} | "
            f"{t['float32']:.3f} | {t['bfloat16']:.3f} | {t['float32'] / t['bfloat16']:.1f}x | "
            f"{'yes' if r['passes'] else 'no'} |"
        )
    notes = [r["note"] for r in rows.values() if "note" in r]
    return head + "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", nargs="*", help="model ids (default: every network upscaler); other rows are kept")
    ap.add_argument("--crop", type=int, default=256, help="crop side in pixels (default 256)")
    ap.add_argument("--time-size", type=int, default=256, help="timed input side in pixels (default 256)")
    ap.add_argument("--threads", type=int, default=2, help="threads for the quality runs (default 2)")
    args = ap.parse_args(argv)
    path = RESULTS / "precision.json"
    rows = json.loads(path.read_text()) if args.only and path.is_file() else {}
    for spec in list_models(Task.UPSCALE):
        if spec.scale == 0 or (args.only and spec.id not in args.only):
            continue
        why = available(spec)
        if why:
            rows[spec.id] = {"note": f"- skipped `{spec.id}`: {why}"}
            continue
        rows[spec.id] = measure(spec.id, args.crop, args.time_size, args.threads)
        sys.stderr.write(f"done {spec.id}\n")
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, indent=1) + "\n")
    text = render(rows)
    (RESULTS / "precision.md").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
