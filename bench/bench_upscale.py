"""Benchmark every upscaler in the registry that is available here: quality, speed, memory.

Run ``python -m bench.bench_upscale`` (after ``python -m training.photos``). For each
upscale model it starts a fresh subprocess (so peak memory is that model's alone) that:

* scores PSNR-Y / SSIM-Y (4 px border) at x2 and x4 on the held-out photos with the protocol of
  ``training/evaluation.py`` (centre crops, bicubic-downscaled 8-bit LR), each row against
  bicubic on the same crops; models of another native factor go through ``ops.upscale.upscale``;
* times ``ops.upscale.upscale`` on a 512x512 input at the model's native factor (x4 for
  resamplers), after a small warm-up, best of ``--repeats`` runs, and reports seconds per output
  megapixel; models flagged ``slow_on_cpu`` use a 128x128 input and 192 px crops;
* reports the peak resident memory added by loading and running (``ru_maxrss`` delta) and, for
  networks, the FLOPs per output pixel of the convolutions they run (counted with forward hooks)
  and the share of a dense ``torch.mm`` FLOP rate measured in the same process.

Hub models that cannot be fetched are listed as skipped. Rows are kept in
``bench/results/upscale.json`` by model id, so ``--only ID...`` re-measures some models and keeps the
others' rows; the table of every row is printed and written to ``bench/results/upscale.md``.

``--set illustrations`` scores quality only (speed does not depend on the picture) on the clip-art set of
``training.illustrations`` (flat colour and outlines, as in anime and drawings), 384 px crops, into
``bench/results/upscale-illustrations.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from models.catalog import get_spec, list_models
from models.registry import Task
from training.evaluation import (
    bicubic_up,
    make_lr,
    psnr_y,
    ssim_y,
    val_crops,
    val_photos,
)

ROOT = Path(__file__).resolve().parent.parent
#: Test sets: name -> (pictures folder, default crop, results file stem, whether speed is measured too).
SETS = {
    "photos": (ROOT / "data" / "photos", 512, "upscale", True),
    "illustrations": (ROOT / "data" / "illustrations", 384, "upscale-illustrations", False),
}


def matmul_gflops(n: int = 1024, reps: int = 5) -> float:
    """Dense float32 ``torch.mm`` rate with the current thread count, per second of this process's CPU time
    (so other programs on a shared CPU do not lower it)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    t0 = time.process_time()
    for _ in range(reps):
        torch.mm(a, b)
    return 2 * n**3 * reps / (time.process_time() - t0) / 1e9


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Processor seconds of the fastest of ``repeats`` calls after a warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def conv_flops_per_pixel(net: torch.nn.Module, scale: int, size: int = 32) -> float | None:
    """FLOPs (2 x multiply-adds) of the convolutions ``net`` runs, per output pixel, counted with forward hooks
    on one ``size`` x ``size`` input; None for a network without convolutions. Activations, pixel shuffles
    and spandrel SPAN's per-forward re-fusing of its training branches are not counted."""
    total = 0

    def count(module, _inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        total += 2 * output.numel() * (module.in_channels // module.groups) * kh * kw

    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        return None
    hooks = [m.register_forward_hook(count) for m in convs]
    dtype = convs[0].weight.dtype  # bfloat16 networks take bfloat16 input
    try:
        with torch.inference_mode():
            net(torch.rand(1, 3, size, size, dtype=dtype))
    finally:
        for h in hooks:
            h.remove()
    return total / (size * scale) ** 2


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def worker(model_id: str, photos: Path, crop: int, threads: int, repeats: int = 3, timing: bool = True) -> dict:
    """Measure one model in this process (quality only unless ``timing``); returns a JSON-able row."""
    from core.image import ImageData
    from models.devices import pick_dtype
    from models.loaders import load_model
    from ops.upscale import upscale

    torch.set_num_threads(threads)
    spec = get_spec(model_id)
    slow = spec.slow_on_cpu
    crop = 192 if slow else crop
    time_size = 128 if slow else 512
    base_rss = _peak_rss_mb()
    dtype = pick_dtype(spec, torch.device("cpu"))  # what the app runs here (GANVAS_DTYPE=float32 forces float32)
    model = load_model(spec, torch.device("cpu"), dtype)
    row: dict = {"id": spec.id, "title": spec.title, "native": spec.scale, "crop": crop, "threads": threads}
    row["dtype"] = str(dtype).removeprefix("torch.")
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
    if not timing:
        return row
    t_scale = spec.scale if spec.scale > 0 else 4
    upscale(ImageData(rgb=torch.rand(1, 3, 64, 64)), model, t_scale)
    x = ImageData(rgb=torch.rand(1, 3, time_size, time_size))
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        upscale(x, model, t_scale)
        times.append(time.perf_counter() - t0)
    secs = min(times)  # the least disturbed run on a shared CPU
    out_mp = (time_size * t_scale) ** 2 / 1e6
    row.update(time_input=time_size, time_scale=t_scale, seconds=secs, s_per_mp=secs / out_mp)
    # One thread, in CPU seconds: what the model costs, whatever else the shared CPU runs meanwhile.
    torch.set_num_threads(1)
    cpu = []
    for _ in range(2):
        t0 = time.process_time()
        upscale(x, model, t_scale)
        cpu.append(time.process_time() - t0)
    row["cpu_s_per_mp"] = min(cpu) / out_mp
    row["peak_rss_mb"] = _peak_rss_mb() - base_rss
    net = getattr(model.module, "model", model.module) if model.module is not None else None
    fpp = conv_flops_per_pixel(net, t_scale) if isinstance(net, torch.nn.Module) else None
    if fpp is not None:
        row.update(flops_per_px=fpp, gflops=fpp / row["cpu_s_per_mp"] / 1e3, mm_gflops=matmul_gflops())
    torch.set_num_threads(threads)
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
    if "seconds" not in row:  # a quality-only set
        return "| " + " | ".join(cells) + " |"
    cells.append(f"{row['seconds']:.2f} s ({row['time_input']}² x{row['time_scale']})")
    cells.append(f"{row['s_per_mp']:.2f}")
    cells.append(f"{row['cpu_s_per_mp']:.2f}")
    cells.append(f"{row['peak_rss_mb']:.0f}")
    if "flops_per_px" in row:
        bf16 = ", in bfloat16" if row.get("dtype") == "bfloat16" else ""
        cells.append(
            f"{row['flops_per_px'] / 1e3:.1f} k; {row['gflops']:.1f}/{row['mm_gflops']:.0f} GFLOP/s "
            f"({100 * row['gflops'] / row['mm_gflops']:.0f} %{bf16})"
        )
    else:
        cells.append("")
    return "| " + " | ".join(cells) + " |"


def _load_rows(path: Path) -> dict[str, dict]:
    """The kept rows (and skip notes) by model id."""
    return json.loads(path.read_text()) if path.is_file() else {}


def render_illustrations(rows: dict[str, dict], folder: Path, crop: int) -> str:
    """The markdown table of the illustration set: quality only, in registry order."""
    lines = [_fmt(rows[s.id]) for s in list_models(Task.UPSCALE) if s.id in rows and "note" not in rows[s.id]]
    n = len(val_photos(folder)) if folder.is_dir() else "?"
    header = [
        "# Upscaler benchmark: illustrations",
        "",
        f"{n} public-domain clip-art illustrations from Debian's openclipart-png (flat colour and outlines, as in "
        "anime and drawings; `python -m training.illustrations`), flattened onto white; centre crops of "
        f"{crop} px (192 px for models flagged slow on CPU), LR = antialiased bicubic downscale rounded to 8 bits; "
        "PSNR-Y (dB) / SSIM-Y with a 4 px border, the gain over bicubic on the same crops in brackets. Speed is "
        "the photo table's.",
        "",
        "| model | native | x2 PSNR-Y | x2 SSIM-Y | x4 PSNR-Y | x4 SSIM-Y |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join([*header, *lines]) + "\n"


def render(rows: dict[str, dict], photos: Path, crop: int) -> str:
    """The markdown table of every kept row, in registry order, with the skip notes under it."""
    lines, notes = [], []
    for spec in list_models(Task.UPSCALE):
        row = rows.get(spec.id)
        if row is None:
            continue
        if "note" in row:
            notes.append(row["note"])
        else:
            lines.append(_fmt(row))
    threads = sorted({r["threads"] for r in rows.values() if "threads" in r})
    thread_text = "/".join(map(str, threads)) or "?"
    n_val = len(val_photos(photos)) if photos.is_dir() else "?"
    header = [
        "# Upscaler benchmark",
        "",
        f"{n_val} held-out photos, centre crops of {crop} px (192 px for models flagged slow on CPU), LR = "
        "antialiased bicubic downscale rounded to 8 bits; PSNR-Y (dB) / SSIM-Y with a 4 px border, "
        "the gain over bicubic on the same crops in brackets. Speed: `ops.upscale.upscale` on this "
        f"2-core machine with {thread_text} thread{'s' if thread_text != '1' else ''}, best of 3 runs (a shared "
        "CPU: these wall times are noisy); s/MP = seconds per output megapixel at the model's own scale; CPU "
        "s/MP = the same with one thread in CPU seconds (best of 2), steady whatever else runs. Memory: peak "
        "RSS added by loading and running the model (MB). FLOPs: the convolutions the network runs; their rate "
        "at one thread against float32 `torch.mm`'s, both per CPU second. Networks run channels-last, in the "
        "precision the app picks here: bfloat16 where marked (bench/results/precision.md), else float32.",
        "",
        "| model | native | x2 PSNR-Y | x2 SSIM-Y | x4 PSNR-Y | x4 SSIM-Y | time | s/MP out | CPU s/MP | peak MB | "
        "FLOPs/px; 1-thread GFLOP/s vs torch.mm |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join([*header, *lines, "", *notes]) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the available upscalers (each in its own subprocess), keep their rows and write the markdown table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--set", choices=sorted(SETS), default="photos", help="test pictures (default: photos)")
    ap.add_argument("--photos", type=Path, help="their folder (default: the set's)")
    ap.add_argument("--crop", type=int, help="crop size (default: 512 for photos, 384 for illustrations)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per model; the fastest counts")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--only", nargs="*", help="model ids to run (default: all upscalers); the others' rows are kept")
    args = ap.parse_args(argv)
    folder, crop, stem, timing = SETS[args.set]
    args.photos, args.crop = args.photos or folder, args.crop or crop
    results, rows_path = ROOT / "bench" / "results" / f"{stem}.md", ROOT / "bench" / "results" / f"{stem}.json"
    if args.worker:
        row = worker(args.worker, args.photos, args.crop, args.threads, args.repeats, timing)
        sys.stdout.write(json.dumps(row) + "\n")
        return 0

    rows = _load_rows(rows_path) if args.only else {}
    for spec in list_models(Task.UPSCALE):
        if args.only and spec.id not in args.only:
            continue
        why = available(spec)
        if why:
            rows[spec.id] = {"note": f"- skipped `{spec.id}`: {why}"}
            continue
        cmd = [sys.executable, "-m", "bench.bench_upscale", "--worker", spec.id, "--set", args.set]
        cmd += ["--photos", str(args.photos)]
        cmd += ["--crop", str(args.crop), "--threads", str(args.threads), "--repeats", str(args.repeats)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            rows[spec.id] = {"note": f"- failed `{spec.id}`: {proc.stderr.strip().splitlines()[-1:]}"}
            continue
        rows[spec.id] = json.loads(proc.stdout.strip().splitlines()[-1])
        sys.stderr.write(f"done {spec.id}\n")
    text = (render if timing else render_illustrations)(rows, args.photos, args.crop)
    results.parent.mkdir(parents=True, exist_ok=True)
    rows_path.write_text(json.dumps(rows, indent=1) + "\n")
    results.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
