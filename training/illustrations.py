"""Fetch the clip-art illustrations of the upscaler benchmark's illustration set.

Run ``python -m training.illustrations --out data/illustrations``. It downloads the Debian package named in
``bench/illustrations.json`` with ``apt-get download`` (no install), unpacks it with ``dpkg -x``, checks each
listed file's sha256, flattens it onto white (the files are RGBA with transparent backgrounds, and the benchmark
compares RGB) and writes ``manifest.json`` in the layout of ``training.photos``, every image in the "val" split,
so ``training.evaluation.val_crops`` reads it as it reads the held-out photos.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from PIL import Image

from training.photos import fetch_package, sha256_of

DEFAULT_LIST = Path(__file__).resolve().parent.parent / "bench" / "illustrations.json"


def flatten(path: Path) -> Image.Image:
    """The image composited onto opaque white, as RGB."""
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def fetch_all(list_path: Path, out: Path) -> dict:
    """Fetch, verify, flatten and write every listed illustration into ``out``; returns the manifest written."""
    spec = json.loads(list_path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    images, problems = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = fetch_package(spec["package"], Path(tmp))
        for e in spec["images"]:
            src = root / e["path"].lstrip("/")
            name = f"{spec['package']}/{src.stem}"
            if not src.is_file():
                problems.append(f"{name}: missing from the package")
                continue
            digest = sha256_of(src)
            if digest != e["sha256"]:
                problems.append(f"{name}: sha256 mismatch ({digest[:12]} != {e['sha256'][:12]})")
                continue
            dst = out / f"{name}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            flatten(src).save(dst)
            images.append(
                {
                    "name": name,
                    "file": str(dst.relative_to(out)),
                    "package": spec["package"],
                    "package_version": spec["package_version"],
                    "source_path": e["path"],
                    "sha256": digest,
                    "width": e.get("width"),
                    "height": e.get("height"),
                    "licence": spec["licence"],
                    "split": "val",
                }
            )
    manifest = {"source": str(list_path), "val_rule": "every image", "photos": images, "problems": problems}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--list", type=Path, default=DEFAULT_LIST)
    ap.add_argument("--out", type=Path, default=Path("data/illustrations"))
    args = ap.parse_args(argv)
    m = fetch_all(args.list, args.out)
    sys.stdout.write(f"{len(m['photos'])} illustrations in {args.out}; {len(m['problems'])} problems\n")
    for p in m["problems"]:
        sys.stdout.write(f"  {p}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
