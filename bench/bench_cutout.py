"""Benchmark cut-outs on objects with a known alpha pasted on photographs.

Run ``python -m bench.bench_cutout [--data DIR] [--held-out]``. The set is built once into ``--data`` from Debian
packages (``apt-get download`` + ``dpkg -x``, nothing installed): the photo-like RGBA stamps of
``tuxpaint-stamps-default`` outside its held-out folders (see :data:`HELD_OUT`), each pasted at a seeded size and
place on one of the photographs of ``palapeli-data`` (its puzzle collection) and ``tuxpaint-data`` (its
templates), resized to :data:`LONG_SIDE` pixels. The stamp's alpha is the true matte.

Every cutout model runs automatically (the whole image) and with the object's bounding box grown by
:data:`BOX_GROWTH` pixels; the table gives the mean IoU of the matte at 0.5, the mean absolute alpha error and
the seconds per image on this CPU. ``--held-out`` measures the held-out folders instead (animals, food,
vehicles, household, plants): for the final check only, never for tuning.
Results go to ``bench/results/cutout.md`` (``cutout-held-out.md`` for the held-out set).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.image import ImageData
from models.catalog import list_models
from models.registry import HubFile, Task
from models.runtime import ModelCache
from ops.cutout import matte

ROOT = Path(__file__).resolve().parent.parent
STAMPS = "tuxpaint-stamps-default"
STAMP_ROOT = "usr/share/tuxpaint/stamps"
#: Folders of the stamps package kept for an independent check: never used to build the tuning set.
HELD_OUT = ("animals", "food", "vehicles", "household", "plants")
#: Photographs behind the objects: (package, folder inside it, licence).
BACKGROUNDS = (
    ("palapeli-data", "usr/share/palapeli/collection", "GPL-2+"),
    ("tuxpaint-data", "usr/share/tuxpaint/templates", "GPL-2+"),
)
STAMPS_LICENCE = "GPL-2+ (tuxpaint-stamps-default, see its copyright file)"
LONG_SIDE = 640
BOX_GROWTH = 8
#: A stamp counts as photo-like with at least this many distinct opaque colours and no "cartoon" in its path.
MIN_COLOURS = 5000
MIN_SIDE = 90
SEED = 31


def _fetch(package: str, workdir: Path) -> Path:
    """Download one Debian package and unpack it (no install); returns its root folder."""
    root = workdir / package
    if not root.is_dir():
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", package], cwd=tmp, check=True, capture_output=True)
            deb = next(Path(tmp).glob(f"{package}_*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def _photo_like(path: Path) -> Image.Image | None:
    """The stamp as RGBA when it is photo-like with a real alpha (some transparent, some opaque), else None."""
    if "cartoon" in path.parts or "_mirror" in path.stem or "_flip" in path.stem:
        return None
    im = Image.open(path).convert("RGBA")
    a = np.asarray(im)
    alpha = a[..., 3]
    if min(im.size) < MIN_SIDE or alpha.min() > 0 or alpha.max() < 255 or not 0.1 < (alpha > 0).mean() < 0.95:
        return None
    opaque = a[alpha > 200][:, :3].astype(np.int64)
    colours = len(np.unique(opaque[:, 0] * 65536 + opaque[:, 1] * 256 + opaque[:, 2]))
    return im if colours >= MIN_COLOURS else None


def stamps(root: Path, held_out: bool) -> list[tuple[str, Image.Image]]:
    """(name, RGBA image) of the photo-like stamps: outside the held-out folders, or only inside them."""
    base = root / STAMP_ROOT
    out, seen = [], set()
    for path in sorted(base.rglob("*.png")):
        folder = path.relative_to(base).parts[0]
        if (folder in HELD_OUT) != held_out or path.name in seen:
            continue
        im = _photo_like(path)
        if im is not None:
            seen.add(path.name)
            out.append((str(path.relative_to(base)), im))
    return out


def backgrounds(workdir: Path) -> list[tuple[str, Image.Image]]:
    """(name, RGB photo with its long side LONG_SIDE) of every background photograph."""
    out = []
    for package, folder, _licence in BACKGROUNDS:
        for path in sorted((_fetch(package, workdir) / folder).glob("*.jpg")):
            im = Image.open(path).convert("RGB")
            f = LONG_SIDE / max(im.size)
            size = (round(im.width * f), round(im.height * f))
            out.append((f"{package}/{path.name}", im.resize(size, Image.LANCZOS)))
    return out


def build_set(data: Path, held_out: bool) -> Path:
    """The benchmark set in ``data/<dev|held-out>``: NNN.png (the composite), NNN-alpha.png, index.json."""
    out = data / ("held-out" if held_out else "dev")
    if (out / "index.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    photos = backgrounds(data / "packages")
    items = []
    for i, (name, stamp) in enumerate(stamps(_fetch(STAMPS, data / "packages"), held_out)):
        bg_name, bg = photos[i % len(photos)]
        side = rng.uniform(0.35, 0.65) * min(bg.size)
        f = side / max(stamp.size)
        obj = stamp.resize((max(1, round(stamp.width * f)), max(1, round(stamp.height * f))), Image.LANCZOS)
        x, y = rng.randint(0, bg.width - obj.width), rng.randint(0, bg.height - obj.height)
        canvas = bg.copy()
        canvas.paste(obj, (x, y), obj)
        alpha = Image.new("L", bg.size, 0)
        alpha.paste(obj.getchannel("A"), (x, y))
        canvas.save(out / f"{i:03d}.png")
        alpha.save(out / f"{i:03d}-alpha.png")
        bbox = alpha.getbbox() or (x, y, x + obj.width, y + obj.height)
        items.append({"id": f"{i:03d}", "object": name, "background": bg_name, "bbox": list(bbox)})
    (out / "index.json").write_text(json.dumps(items, indent=1))
    return out


def grown_box(bbox: list[int], size: tuple[int, int], by: int = BOX_GROWTH) -> tuple[int, int, int, int]:
    """(x, y, w, h) of a (left, top, right, bottom) bounding box grown by ``by`` pixels, within the image."""
    x0, y0 = max(0, bbox[0] - by), max(0, bbox[1] - by)
    x1, y1 = min(size[0], bbox[2] + by), min(size[1], bbox[3] + by)
    return x0, y0, x1 - x0, y1 - y0


def scores(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """(IoU of the two mattes at 0.5, mean absolute alpha error)."""
    p, t = pred > 0.5, true > 0.5
    union = np.logical_or(p, t).sum()
    iou = float(np.logical_and(p, t).sum() / union) if union else 1.0
    return iou, float(np.abs(pred - true).mean())


def evaluate(folder: Path, model_ids: list[str], limit: int = 0, every: int = 1) -> list[dict]:
    """One row per model and mode: mean IoU, mean absolute error, seconds per image (every ``every``-th image,
    the first ``limit`` of those when given)."""
    items = json.loads((folder / "index.json").read_text())[::every][: limit or None]
    cache = ModelCache(device="cpu", max_models=1)
    rows = []
    for model_id in model_ids:
        model = cache.get(model_id)
        for mode in ("automatic", f"box +{BOX_GROWTH} px"):
            ious, errs, secs = [], [], []
            for item in items:
                img = np.asarray(Image.open(folder / f"{item['id']}.png").convert("RGB"), np.float32) / 255
                true = np.asarray(Image.open(folder / f"{item['id']}-alpha.png"), np.float32) / 255
                data = ImageData(rgb=torch.from_numpy(img).permute(2, 0, 1)[None].contiguous())
                box = None if mode == "automatic" else grown_box(item["bbox"], data.size)
                start = time.perf_counter()
                pred = matte(data, model, box)[0, 0].numpy()
                secs.append(time.perf_counter() - start)
                iou, err = scores(pred, true)
                ious.append(iou)
                errs.append(err)
            row = {
                "model": model_id,
                "mode": mode,
                "iou": float(np.mean(ious)),
                "mae": float(np.mean(errs)),
                "seconds": float(np.median(secs)),
                "n": len(items),
            }
            line = f"IoU {row['iou']:.3f}  MAE {row['mae']:.4f}  {row['seconds']:.2f} s"
            print(f"{model_id:<14} {mode:<12} {line}", flush=True)
            rows.append(row)
    return rows


def render(rows: list[dict], folder: Path, held_out: bool, threads: int, every: int = 1) -> str:
    items = json.loads((folder / "index.json").read_text())[::every]
    which = "held-out folders " + ", ".join(HELD_OUT) if held_out else "folders other than " + ", ".join(HELD_OUT)
    lines = [
        "# Cut-out benchmark" + (" (held-out set)" if held_out else ""),
        "",
        f"{len(items)} photo-like RGBA stamps of {STAMPS} ({which}"
        f"{f', every {every}th' if every > 1 else ''}) pasted on "
        f"{len({i['background'] for i in items})} photographs ({', '.join(p for p, _f, _l in BACKGROUNDS)}) at "
        f"{LONG_SIDE} px on the long side; the stamp's alpha is the truth. Licences: stamps {STAMPS_LICENCE}; "
        f"photos {', '.join(f'{p} {lic}' for p, _f, lic in BACKGROUNDS)}. Box = the object's bounding box grown "
        f"by {BOX_GROWTH} px. Median seconds per image, CPU, {threads} threads, torch {torch.__version__}, "
        f"python {platform.python_version()}.",
        "",
        "| model | mode | IoU at 0.5 | mean abs. alpha error | s / image |",
        "|---|---|---|---|---|",
        *(f"| `{r['model']}` | {r['mode']} | {r['iou']:.3f} | {r['mae']:.4f} | {r['seconds']:.2f} |" for r in rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT / "data" / "cutout"), help="where the set is built (once)")
    p.add_argument("--held-out", action="store_true", help="measure the held-out folders (final check only)")
    offline = [s.id for s in list_models(Task.CUTOUT) if not isinstance(s.source, HubFile)]
    p.add_argument("--models", nargs="*", default=offline, help="(default: the offline ones; a Hub model by name)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=0, help="only the first N images (a quick look; 0 = all)")
    p.add_argument("--every", type=int, default=1, help="every N-th image only (a sample across the folders)")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder = build_set(Path(args.data), args.held_out)
    rows = evaluate(folder, args.models, args.limit, args.every)
    name = "cutout-held-out.md" if args.held_out else "cutout.md"
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / name
    kept = out.with_suffix(".json")
    if kept.is_file():  # the rows of models not measured this time stay, in registry order
        old = [r for r in json.loads(kept.read_text()) if r["model"] not in args.models]
        order = {s.id: i for i, s in enumerate(list_models(Task.CUTOUT))}
        rows = sorted(old + rows, key=lambda r: order.get(r["model"], len(order)))
    out.write_text(render(rows, folder, args.held_out, args.threads, args.every))
    (out.with_suffix(".json")).write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
