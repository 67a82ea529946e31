"""Benchmark the inpainting models that run offline: quality on held-out photos, speed, memory.

Run ``python -m bench.bench_inpaint`` (after ``python -m training.photos --out data/photos``).
Each model runs in a fresh subprocess (so ``ru_maxrss`` is that model's peak alone) that:

* fills the fixed validation set of ``training/evaluation.validation_set`` (2 crops of
  512x512 per validation photo, photos brought to a 768 px short side, masks from
  ``random_mask`` with a fixed seed) through ``ops.inpaint.inpaint(strategy="original")`` on the
  8-bit input, and scores PSNR inside the hole, SSIM on the whole crop and SSIM inside the hole;
  it also checks that every pixel outside the hole is bit-identical to the input;
* times one 512x512 fill (mean over the set) and a 12 MP photo (a validation photo upscaled to
  4000x3000) with a 5% mask through ``strategy="crop"`` and, for classical methods, ``"original"``.

The table is printed and written to ``bench/results/inpaint.md``; ``--grid`` also writes an
example grid (input with hole / Telea / ours / ground truth).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from training.evaluation import (
    block_outputs,
    hole_psnr,
    imagenet_input,
    load_efficientnet_lite,
    load_photo,
    photo_paths,
    validation_set,
)
from training.masks import random_mask

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "inpaint.md"
MODELS = ("ganvas-inpaint", "telea", "navier-stokes", "shift-map", "auto")
SLOW_ORIGINAL = ("shift-map",)  # classical, but minutes on a whole 12 MP photo: crop strategy only
BIG = (3000, 4000)  # height, width of the 12 MP test


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (Gaussian window 11, sigma 1.5, 8-bit constants), averaged over RGB."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(t: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(t, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(axis=2)


def detail_ratio(out: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Mean gradient magnitude (Sobel, on gray) inside the hole, the fill's over the original's: 1.0 = as much
    texture as the photo had there; a smooth fill scores well below it however good its PSNR."""

    def grad(img: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64)
        return np.hypot(cv2.Sobel(g, cv2.CV_64F, 1, 0), cv2.Sobel(g, cv2.CV_64F, 0, 1))

    return float(grad(out)[mask].mean() / max(grad(truth)[mask].mean(), 1e-6))


OBJECT_SEED = 7
TEXTURED = 50.0  # mean gradient magnitude (Sobel, 8-bit gray) in the ring around a hole above which it is textured


def object_holes(photos: Path) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """The same held-out crops with one object-sized hole each (an ellipse of 30-80 px, seeded): (crop, hole,
    whether the 15 px ring around the hole is textured). Removing one thing is what the Inpaint tab is for;
    the stroke masks of the main set come from training."""
    rng = np.random.default_rng(OBJECT_SEED)
    out = []
    for crop, _ in validation_set(photos):
        m = np.zeros(crop.shape[:2], np.uint8)
        cx, cy = (int(v) for v in rng.integers(120, 392, 2))
        ax, ay = (int(v) for v in rng.integers(15, 40, 2))
        cv2.ellipse(m, (cx, cy), (ax, ay), float(rng.uniform(0, 180)), 0, 360, 255, -1)
        hole = m > 0
        g = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
        mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
        ring = cv2.dilate(m, np.ones((31, 31), np.uint8)).astype(bool) & ~hole
        out.append((crop, hole, bool(mag[ring].mean() > TEXTURED)))
    return out


_LITE0: list = []
#: EfficientNet-Lite0 blocks whose outputs the feature distance compares
LITE0_TAPS = (1, 3, 5, 8, 11)


def feature_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """An LPIPS-style distance (uncalibrated): EfficientNet-Lite0 ImageNet feature maps of five blocks, each
    unit-normalised per position, mean squared difference summed over the blocks, on two uint8 RGB windows
    brought to 224 px. Deep-feature distances follow what people see better than PSNR (Zhang et al. 2018);
    None when the bench requirements (requirements-bench.txt) are not installed."""
    if not _LITE0:
        try:
            _LITE0.append(load_efficientnet_lite(0))
        except ImportError:
            return None
    net = _LITE0[0]

    def maps(x: np.ndarray) -> list[torch.Tensor]:
        t = torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255
        return [h / (h.norm(dim=1, keepdim=True) + 1e-10) for h in block_outputs(net, imagenet_input(t), LITE0_TAPS)]

    with torch.no_grad():
        return float(sum(((fa - fb) ** 2).sum(1).mean() for fa, fb in zip(maps(a), maps(b), strict=True)))


def _window(img: np.ndarray, hole: np.ndarray, size: int = 128) -> np.ndarray:
    ys, xs = np.nonzero(hole)
    h, w = hole.shape
    y0 = min(max(0, int(ys.mean()) - size // 2), h - size)
    x0 = min(max(0, int(xs.mean()) - size // 2), w - size)
    return img[y0 : y0 + size, x0 : x0 + size]


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return (t[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def big_case(photos: Path) -> tuple[np.ndarray, np.ndarray]:
    """A 4000x3000 uint8 photo (a validation photo upscaled) and a 5% hole mask."""
    img = load_photo(photo_paths(photos, "val")[0], short_side=BIG[0])
    img = np.ascontiguousarray(img[: BIG[0], : BIG[1]])
    if img.shape[:2] != BIG:
        img = cv2.resize(img, (BIG[1], BIG[0]), interpolation=cv2.INTER_CUBIC)
    return img, random_mask(*BIG, np.random.default_rng(7), coverage=(0.05, 0.06))


def worker(model_id: str, photos: Path, threads: int, big_original: bool) -> dict:
    """Score, time and measure one model in this process; returns a JSON-able dict."""
    from core.image import from_numpy
    from models.catalog import get_spec
    from models.loaders import load_model
    from ops.inpaint import inpaint

    torch.set_num_threads(threads)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = load_model(get_spec(model_id), torch.device("cpu"), torch.float32)
    psnr, ssim, ssim_hole, detail, secs, identical = [], [], [], [], [], True
    for crop, mask in validation_set(photos):
        t0 = time.perf_counter()
        res = inpaint(from_numpy(crop), mask.astype(np.uint8) * 255, model, strategy="original")
        secs.append(time.perf_counter() - t0)
        out = _to_uint8(res.image.rgb)
        identical &= bool(np.array_equal(out[~mask], crop[~mask]))
        smap = ssim_map(out, crop)
        psnr.append(hole_psnr(out, crop, mask))
        ssim.append(float(smap.mean()))
        ssim_hole.append(float(smap[mask].mean()))
        detail.append(detail_ratio(out, crop, mask))
    objects = []  # (psnr, detail, feature distance, textured) per object-sized hole, strategy crop as the tab
    for crop, hole, textured in object_holes(photos):
        res = inpaint(from_numpy(crop), hole.astype(np.uint8) * 255, model, strategy="crop")
        out = _to_uint8(res.image.rgb)
        fd = feature_distance(_window(out, hole), _window(crop, hole))
        objects.append((hole_psnr(out, crop, hole), detail_ratio(out, crop, hole), fd, textured))
    img, mask = big_case(photos)
    big = {}
    for strategy in ("crop", "original") if big_original else ("crop",):
        t0 = time.perf_counter()
        inpaint(from_numpy(img), mask.astype(np.uint8) * 255, model, strategy=strategy)
        big[strategy] = time.perf_counter() - t0
    return {
        "id": model_id,
        "title": model.spec.title,
        "params": model.param_count(),
        "psnr_hole": float(np.mean(psnr)),
        "psnr_each": psnr,
        "ssim": float(np.mean(ssim)),
        "ssim_hole": float(np.mean(ssim_hole)),
        "detail": float(np.mean(detail)),
        "outside_identical": identical,
        "sec_512": float(np.mean(secs)),
        "sec_12mp": big,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024,
        "crops": len(psnr),
        "objects": objects,
    }


def run_worker(model_id: str, photos: Path, threads: int, big_original: bool) -> dict:
    """One model's results from a fresh subprocess."""
    cmd = [
        sys.executable,
        "-m",
        "bench.bench_inpaint",
        "--worker",
        model_id,
        "--photos",
        str(photos),
        "--threads",
        str(threads),
    ]
    if big_original:
        cmd.append("--big-original")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"id": model_id, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[dict], threads: int) -> str:
    """The markdown report."""
    ref = next((r for r in rows if r["id"] == "telea" and "error" not in r), None)
    n = next((r["crops"] for r in rows if "crops" in r), 0)
    lines = [
        f"# Inpainting benchmark ({n} held-out 512x512 crops, {threads} CPU thread(s))",
        "",
        "PSNR inside the hole (dB, 8-bit), SSIM on the whole crop and inside the hole; detail: the mean "
        "gradient magnitude inside the hole, the fill's over the photo's (1.0 = as textured as the photo; "
        "PSNR favours smooth fills, this does not); seconds for one "
        "512x512 fill and for a 4000x3000 photo with a 5% hole (ops.inpaint, strategy crop / original); "
        "peak resident memory of a fresh process that loaded the model and ran everything.",
        "",
        "| model | params | PSNR hole | vs Telea | SSIM crop | SSIM hole | detail | outside identical | s 512 "
        "| s 12MP crop | s 12MP original | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['id']} | skipped: {r['error']} |" + " |" * 10)
            continue
        delta = f"{r['psnr_hole'] - ref['psnr_hole']:+.2f}" if ref else "n/a"
        orig = r["sec_12mp"].get("original")
        params = f"{r['params'] / 1e6:.2f} M" if r["params"] else "-"
        lines.append(
            f"| {r['title']} | {params} | {r['psnr_hole']:.2f} | {delta} | {r['ssim']:.4f} | "
            f"{r['ssim_hole']:.4f} | {r['detail']:.2f} | {'yes' if r['outside_identical'] else 'NO'} | "
            f"{r['sec_512']:.2f} | "
            f"{r['sec_12mp']['crop']:.1f} | {'-' if orig is None else f'{orig:.1f}'} | {r['peak_mb']:.0f} |"
        )
    if ref:
        wins = []
        for r in rows:
            if "error" not in r and r["id"] != "telea":
                better = sum(a > b for a, b in zip(r["psnr_each"], ref["psnr_each"], strict=True))
                wins.append(f"{r['title']}: better than Telea on {better}/{len(ref['psnr_each'])} crops")
        lines += ["", "; ".join(wins) + "."]
    done = [r for r in rows if "error" not in r and r.get("objects")]
    if done:
        n_tex = sum(o[3] for o in done[0]["objects"])
        lines += [
            "",
            f"Object-sized holes: the same {len(done[0]['objects'])} crops with one ellipse of 30-80 px each "
            f"(strategy crop, as the tab); {n_tex} of them in textured surroundings (mean gradient above "
            f"{TEXTURED:g} in a 15 px ring), the rest smooth (sky, walls, blur). PSNR inside the hole / detail / "
            "feature distance (LPIPS-style on EfficientNet-Lite0 features of a 128 px window around the hole, "
            "uncalibrated; lower = closer to the photo as a network sees it; needs requirements-bench.txt).",
            "",
            "| model | all: PSNR / detail / features | textured: PSNR / detail / features "
            "| smooth: PSNR / detail / features |",
            "|---|---|---|---|",
        ]
        for r in done:
            cells = []
            for want in (None, True, False):  # all, textured, smooth
                part = [o for o in r["objects"] if want is None or o[3] == want]
                fds = [o[2] for o in part if o[2] is not None]
                fd = f"{np.mean(fds):.3f}" if fds and len(fds) == len(part) else "-"
                psnr, det = np.mean([o[0] for o in part]), np.mean([o[1] for o in part])
                cells.append(f"{psnr:.2f} / {det:.2f} / {fd}" if part else "-")
            lines.append(f"| {r['title']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_grid(photos: Path, out: Path, rows: int = 3, cell: int = 192) -> None:
    """Input with hole / Telea / ours / shift-map / ground truth for ``rows`` validation crops, as a small PNG."""
    from PIL import Image

    from models.catalog import get_spec
    from models.loaders import load_model

    ours = load_model(get_spec("ganvas-inpaint"), torch.device("cpu"), torch.float32)
    shift = load_model(get_spec("shift-map"), torch.device("cpu"), torch.float32)
    val = validation_set(photos)
    picks = [val[i] for i in np.linspace(0, len(val) - 1, rows).round().astype(int)]
    grid = Image.new("RGB", (5 * cell, rows * cell), "white")
    for r, (crop, mask) in enumerate(picks):
        x = torch.from_numpy(crop.astype(np.float32) / 255).permute(2, 0, 1)[None]
        m = torch.from_numpy(mask.astype(np.float32))[None, None]
        holed = crop.copy()
        holed[mask] = (255, 0, 255)
        telea = cv2.inpaint(crop, mask.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
        for c, arr in enumerate((holed, telea, _to_uint8(ours(x, m)), _to_uint8(shift(x, m)), crop)):
            grid.paste(Image.fromarray(arr).resize((cell, cell), Image.Resampling.LANCZOS), (c * cell, r * cell))
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, optimize=True)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=ROOT / "data" / "photos")
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--big-original", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--grid", type=Path, help="also write the example grid PNG here")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.photos, args.threads, args.big_original)))
        return
    rows = []
    for model_id in args.models:
        from models.catalog import get_spec

        classical = get_spec(model_id).is_classical and model_id not in SLOW_ORIGINAL
        rows.append(run_worker(model_id, args.photos, args.threads, big_original=classical))
    text = table(rows, args.threads)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.grid:
        write_grid(args.photos, args.grid)


if __name__ == "__main__":
    main()
