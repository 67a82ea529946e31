"""Peak memory of each command's heaviest accepted input, on the default limits.

Each case runs ``cli.main`` in a fresh process and reports that process's peak resident memory
(``ru_maxrss``), so one case's garbage never counts against another. Inputs are generated here (black
PNGs compress to almost nothing: a 100 MP one is a few hundred KB, which is how a visitor would send one).

    python -m bench.bench_memory              # every case, a table
    python -m bench.bench_memory --case edit-pad --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def _png(path: Path, width: int, height: int, mode: str = "RGB", box: tuple[int, int, int, int] | None = None) -> str:
    """A black (or, with ``box``, a white-box-on-black) PNG written row block by row block."""
    img = Image.new(mode, (width, height))
    if box:
        img.paste(255 if mode == "L" else (255,) * len(mode), box)
    img.save(path, compress_level=1)
    return str(path)


def _gif(path: Path, width: int, height: int, frames: int) -> str:
    """An animated GIF of ``frames`` frames, each a grey of its own (so none is dropped as a repeat)."""
    images = [Image.new("L", (width, height), 40 * i).convert("P") for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return str(path)


def _recipe(path: Path, steps: list[dict]) -> str:
    path.write_text(json.dumps({"version": 1, "steps": steps}))
    return str(path)


def _side(limit: int) -> tuple[int, int]:
    """The largest 3:2 image within ``limit`` pixels."""
    h = int((limit / 1.5) ** 0.5)
    return int(h * 1.5), h


def cases(tmp: Path, limit: int) -> dict[str, list[str]]:
    """Command lines (for ``cli.main``) of the heaviest input each command accepts under ``limit`` pixels."""
    w, h = _side(limit)
    photo = _png(tmp / "photo.png", w, h)
    # a rotation with expand grows the picture: the largest photos whose rotated canvas fits the limit
    turn45 = _png(tmp / "turn45.png", *_side(int(limit / 2.1)))
    turn3 = _png(tmp / "turn3.png", *_side(int(limit / 1.16)))
    sticker = _png(tmp / "sticker.png", 64, 64, "RGBA", (8, 8, 56, 56))
    mask = _png(tmp / "mask.png", w, h, "L", (w // 3, h // 3, w // 2, h // 2))
    # a white box on black: the cut-out finds an object with edges, so its edge cleanup runs
    subject = _png(tmp / "subject.png", w, h, "RGB", (w // 4, h // 4, 3 * w // 4, 3 * h // 4))
    out = str(tmp / "out.png")
    return {
        "generate-16": ["generate", "-o", str(tmp / "gen"), "--n", "16"],
        # not a command: the Inpaint tab's unqueued canvas preparation for a new photo (see run_case)
        "inpaint-canvas": [CANVAS, photo],
        "cutout": ["cutout", subject, "-o", out],
        "cutout-box": ["cutout", subject, "-o", out, "--box", f"{w // 8},{h // 8},{w * 3 // 4},{h * 3 // 4}"],
        # an animation as large as the frame limits allow: four frames, each upscaled to the working limit
        "upscale-animation": ["upscale", _gif(tmp / "anim.gif", w // 4, h // 4, 4), "-o", str(tmp / "out.gif")],
        "upscale-x4": ["upscale", _png(tmp / "small.png", w // 4, h // 4), "-o", out, "--scale", "4"],
        "inpaint": ["inpaint", photo, mask, "-o", out],
        "composite": ["composite", photo, sticker, "-o", out, "--scale", "250", "--rotate", "30"],
        "composite-depth": ["composite", photo, sticker, "-o", out, "--scale", "50", "--depth", "--softness", "4"],
        "edit-rotate": [
            "edit",
            turn45,
            "-o",
            out,
            "--recipe",
            _recipe(tmp / "r.json", [{"op": "rotate", "angle": 45}]),
        ],
        "edit-pad": [
            "edit",
            _png(tmp / "tiny.png", 64, 64),
            "-o",
            out,
            "--recipe",
            _recipe(tmp / "p.json", [{"op": "pad", "left": 0, "top": 0, "right": w - 64, "bottom": h - 64}]),
        ],
        "edit-adjust": [
            "edit",
            photo,
            "-o",
            out,
            "--recipe",
            _recipe(tmp / "a.json", [{"op": "adjust", "saturation": 0.2, "blur": 2, "sharpen": 1}]),
        ],
        "edit-remove-background": [
            "edit",
            subject,
            "-o",
            out,
            "--recipe",
            _recipe(tmp / "b.json", [{"op": "remove_background", "backdrop": "blur", "blur": 16}]),
        ],
        "edit-gan-filter": [
            "edit",
            photo,
            "-o",
            out,
            "--recipe",
            _recipe(tmp / "g.json", [{"op": "gan_filter"}]),
        ],
        "edit-fill": [
            "edit",
            turn3,
            "-o",
            out,
            "--recipe",
            _recipe(
                tmp / "f.json",
                [{"op": "rotate", "angle": 3}, {"op": "fill", "transparent": True, "content_aware": True}],
            ),
        ],
    }


#: The first word of a case that runs the Inpaint tab's canvas preparation instead of a CLI command.
CANVAS = "ui:inpaint-canvas"


def _canvas(path: str) -> int:
    from models.catalog import default_registry
    from models.runtime import ModelCache
    from ui.context import AppContext
    from ui.inpaint import source_handler

    with tempfile.TemporaryDirectory() as out:
        value = source_handler(AppContext(ModelCache(default_registry()), outdir=Path(out)))(path)[0]
    return 0 if value and value.get("background") else 1


def run_case(argv: list[str]) -> dict:
    import cli

    start = time.perf_counter()
    rc = _canvas(argv[1]) if argv[0] == CANVAS else cli.main(argv)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {"exit": rc, "seconds": round(seconds, 1), "peak_bytes": peak}


def main() -> int:
    from core.image import max_pixels

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", help="run one case in this process (the driver runs each in its own)")
    p.add_argument("--pixels", type=int, default=0, help="working limit to fill (default: the app's)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    limit = args.pixels or max_pixels()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.case:
            result = run_case(cases(tmp, limit)[args.case])
            print(json.dumps(result))
            return 0
        names = list(cases(tmp, limit))
    rows = []
    for name in names:
        cmd = [sys.executable, "-m", "bench.bench_memory", "--case", name, "--pixels", str(limit)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ})
        try:
            row = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            row = {"exit": done.returncode, "seconds": None, "peak_bytes": None, "stderr": done.stderr[-300:]}
        rows.append({"case": name, **row})
    if args.json:
        print(json.dumps({"limit_pixels": limit, "cases": rows}, indent=2))
    else:
        print(f"working limit {limit / 1e6:.0f} MP ({'x'.join(map(str, _side(limit)))})")
        print(f"{'case':<16} {'exit':>4} {'seconds':>8} {'peak GB':>8}")
        for r in rows:
            gb = f"{r['peak_bytes'] / 1e9:.2f}" if r.get("peak_bytes") else "-"
            print(f"{r['case']:<16} {r['exit']:>4} {r['seconds'] or '-':>8} {gb:>8}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
