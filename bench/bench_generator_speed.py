"""How fast the offline generators draw on this CPU: samples per second, and their convolutions' rate against
float32 ``torch.mm``'s, both on one thread in processor seconds.

Run ``python -m bench.bench_generator_speed [--repeats N]``. Each offline generator (the registry's Generate models
that need no Hub) draws batches of 8 and 64 seeds through its adapter's ``synthesize``, as the Generate tab and
the CLI do. FLOPs are those of the network's convolutions and matrix products, counted once by PyTorch's FLOP
counter on the loaded network, whatever faster path the adapter runs. Results go to
``bench/results/generator-speed.md``.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.bench_upscale import best_seconds, matmul_gflops
from models.catalog import list_models
from models.registry import HubFile, Task
from models.runtime import ModelCache

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "generator-speed.md"
BATCHES = (8, 64)


def flops_per_sample(gen) -> float:
    """FLOPs of one sample through the network the adapter holds (PyTorch's FLOP counter: convolutions,
    transposed ones and matrix products)."""
    z = torch.randn(2, gen.z_dim)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        gen.module(z)
    return counter.get_total_flops() / 2


def measure(gen, repeats: int) -> list[dict]:
    rows = []
    fpp = flops_per_sample(gen)
    for batch in BATCHES:
        seeds = list(range(batch))
        best = best_seconds(lambda seeds=seeds: gen.generate(seeds), repeats)
        rate = fpp * batch / best / 1e9
        rows.append({"batch": batch, "seconds": best, "per_s": batch / best, "gflops": rate, "mm": matmul_gflops()})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cache = ModelCache(device=torch.device("cpu"))
    lines = [
        "# Offline generators on this CPU",
        "",
        f"One thread, processor seconds of the best of {args.repeats} runs after a warm-up ({platform.machine()}, "
        f"torch {torch.__version__}); `synthesize` through the app's adapter, FLOPs of the network's convolutions "
        "and matrix products against float32 `torch.mm` of 1024x1024 matrices.",
        "",
        "| model | batch | CPU s | samples / s | GFLOP/s vs torch.mm |",
        "|---|---|---|---|---|",
    ]
    for spec in list_models(Task.GENERATE):
        if isinstance(spec.source, HubFile) or spec.labels:
            continue  # Hub models are timed in bench_defaults; class-conditional ones need labels per seed
        gen = cache.get(spec.id)
        for r in measure(gen, args.repeats):
            pct = 100 * r["gflops"] / r["mm"]
            lines.append(
                f"| {spec.title} (`{spec.id}`) | {r['batch']} | {r['seconds']:.3f} | {r['per_s']:.0f} | "
                f"{r['gflops']:.1f}/{r['mm']:.0f} ({pct:.0f} %) |"
            )
            print(lines[-1], flush=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
