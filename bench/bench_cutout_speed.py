"""How fast the offline cut-out networks run on this CPU: each network as loaded (plain PyTorch layers) against
the graph the app runs, and their rate against float32 ``torch.mm``'s, on one thread in processor seconds.

Run ``python -m bench.bench_cutout_speed [--repeats N]``. For U²-Net-p and U²-Net: the network at the size a
whole picture goes in (``size_automatic``) and the size a box's crop goes in (``size``); the app's graph runs
channels-last with each ReLU fused into its convolution (oneDNN), the plain one channels-first with autograd
recording, which keeps every layer on its plain path. For MobileSAM: its image encoder at 1024x1024, as loaded
(:class:`TinyViT`) and as the app runs it on a CPU (:class:`TinyViTInference`). Last, a whole cut-out of a
640x480 photo through ``ops.cutout.matte``, automatic and in a box, as the app makes it. FLOPs are those of the
convolutions and matrix products, counted by PyTorch's FLOP counter on the plain path. Results go to
``bench/results/cutout-speed.md``.
"""

from __future__ import annotations

import argparse
import copy
import platform
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.bench_upscale import best_seconds, matmul_gflops
from core.image import ImageData
from models.adapters import PromptMatter, SaliencyMatter
from models.catalog import list_models
from models.registry import HubFile, Task
from models.runtime import ModelCache
from ops.cutout import matte

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cutout-speed.md"


def flops(fn: Callable[[], object]) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def network_rows(model, repeats: int) -> list[dict]:
    """(workload, FLOPs, plain seconds, app seconds) of the network a cut-out model runs."""
    g = torch.Generator().manual_seed(0)
    rows = []
    if isinstance(model, SaliencyMatter):
        plain = copy.deepcopy(model.module).to(memory_format=torch.contiguous_format)
        p = model.spec.params
        for size in sorted({int(p.get("size_automatic", p["size"])), int(p["size"])}, reverse=True):
            x = torch.rand(1, 3, size, size, generator=g)
            fast_x = x.contiguous(memory_format=torch.channels_last) if p.get("channels_last") else x

            def run_plain(x=x):
                with torch.enable_grad():  # the fused layers and in-place sums apply only without autograd
                    plain(x)

            def run_app(x=fast_x):
                with torch.inference_mode():
                    model.module(x)

            rows.append(_row(f"network, {size}x{size}", run_plain, run_app, repeats))
    elif isinstance(model, PromptMatter):
        size = int(model.spec.params["input_size"])
        x = torch.rand(1, 3, size, size, generator=g)

        def run_plain():
            with torch.inference_mode():
                model.module.image_encoder(x)

        def run_app():
            with torch.inference_mode():
                model.encoder(x)

        rows.append(_row(f"image encoder, {size}x{size}", run_plain, run_app, repeats))
    return rows


def _row(workload: str, run_plain, run_app, repeats: int) -> dict:
    return {
        "workload": workload,
        "flops": flops(run_plain),
        "plain": best_seconds(run_plain, repeats),
        "app": best_seconds(run_app, repeats),
    }


def cutout_rows(model, repeats: int) -> list[dict]:
    """Seconds of a whole cut-out of a 640x480 photo, automatic and in a 240x200 box, through the app's path."""
    g = torch.Generator().manual_seed(1)
    photo = ImageData(rgb=torch.rand(1, 3, 480, 640, generator=g))
    rows = []
    for label, box in (("cut-out, 640x480, automatic", None), ("cut-out, 640x480, 240x200 box", (200, 140, 240, 200))):
        rows.append({"workload": label, "app": best_seconds(lambda box=box: matte(photo, model, box), repeats)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cache = ModelCache(device=torch.device("cpu"), max_models=2)
    mm = matmul_gflops()
    lines = [
        "# Offline cut-out networks on this CPU",
        "",
        f"One thread, processor seconds of the best of {args.repeats} runs after a warm-up ({platform.machine()}, "
        f"torch {torch.__version__}). Plain: the network as loaded; app: the graph the app runs. FLOPs of the "
        f"convolutions and matrix products; their rate per processor second against float32 `torch.mm` of "
        f"1024x1024 matrices ({mm:.0f} GFLOP/s at the start).",
        "",
        "| model | workload | GFLOP | plain CPU s | app CPU s | app GFLOP/s vs torch.mm |",
        "|---|---|---|---|---|---|",
    ]
    for spec in list_models(Task.CUTOUT):
        if isinstance(spec.source, HubFile) or spec.loader == "grabcut":
            continue  # Hub models are timed in bench_defaults; GrabCut is no network
        model = cache.get(spec.id)
        for r in network_rows(model, args.repeats) + cutout_rows(model, args.repeats):
            if "flops" in r:
                rate = r["flops"] / r["app"] / 1e9
                share = f"{rate:.0f}/{mm:.0f} ({100 * rate / mm:.0f} %)"
                cells = f"{r['flops'] / 1e9:.1f} | {r['plain']:.2f} | {r['app']:.2f} | {share}"
            else:
                cells = f" | | {r['app']:.2f} | "
            lines.append(f"| {spec.title} (`{spec.id}`) | {r['workload']} | {cells} |")
            print(lines[-1], flush=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
