"""Fetch the Debian training photographs for super-resolution and split them by photo.

Run ``python -m training.photos --out data/photos``. It downloads the seven Debian
packages named in ``photos-train.json`` with ``apt-get download`` (no install), unpacks them with
``dpkg -x``, copies each listed photo, checks its sha256 (mismatches are skipped and reported) and
writes ``manifest.json`` with package, licence and split ("train" or "val") for every photo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_LIST = Path("/work/shared/datasets/photos-train.json")
LICENCES = {
    "lomiri-wallpapers-16.04": "CC-BY / CC-BY-SA / CC0 (per photo, see the package copyright file)",
    "lomiri-wallpapers-20.04": "CC-BY / CC-BY-SA / CC0 (per photo, see the package copyright file)",
    "mate-backgrounds": "GPL-2+",
    "plasma-workspace-wallpapers": "GPL-2+",
    "lxqt-themes": "LGPL-2.1+ / CC-BY-SA-3.0",
    "tuxpaint-data": "GPL-2+",
    "palapeli-data": "GPL-2+",
}
VAL_EVERY = 7  # every 7th photo in sha256 order is held out for validation


def photo_name(entry: dict) -> str:
    """A readable unique name: the file stem, or the wallpaper folder when the stem is just a size."""
    path = Path(entry["path"])
    stem = path.stem
    if stem.replace("x", "").isdigit() and len(path.parts) >= 4:
        stem = path.parts[-4]  # plasma: /usr/share/wallpapers/<Name>/contents/images/WxH.jpg
    return f"{entry['package']}/{stem}"


def assign_split(entries: list[dict]) -> dict[str, str]:
    """Deterministic split by photo: every VAL_EVERY-th entry in sha256 order is validation."""
    ordered = sorted(entries, key=lambda e: e["sha256"])
    return {e["sha256"]: ("val" if i % VAL_EVERY == 0 else "train") for i, e in enumerate(ordered)}


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_package(package: str, workdir: Path) -> Path:
    """Download one Debian package and unpack it into ``workdir/<package>``; returns that root."""
    dl = workdir / "deb"
    dl.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", package], cwd=dl, check=True, capture_output=True)
    debs = sorted(dl.glob(f"{package}_*.deb"))
    if not debs:
        raise FileNotFoundError(f"apt-get download {package} produced no .deb file")
    root = workdir / package
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(root)], check=True)
    return root


def fetch_all(list_path: Path, out: Path) -> dict:
    """Fetch, verify and copy every listed photo into ``out``; returns the manifest written there."""
    entries = json.loads(list_path.read_text())["photos"]
    split = assign_split(entries)
    out.mkdir(parents=True, exist_ok=True)
    photos, problems = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for package in sorted({e["package"] for e in entries}):
            try:
                root = fetch_package(package, Path(tmp))
            except (subprocess.CalledProcessError, FileNotFoundError) as exc:
                problems.append(f"{package}: download failed ({exc})")
                continue
            for e in (e for e in entries if e["package"] == package):
                src = root / e["path"].lstrip("/")
                name = photo_name(e)
                if not src.is_file():
                    problems.append(f"{name}: missing from the package")
                    continue
                digest = sha256_of(src)
                if digest != e["sha256"]:
                    problems.append(f"{name}: sha256 mismatch ({digest[:12]} != {e['sha256'][:12]})")
                    continue
                dst = out / f"{name}{src.suffix.lower()}"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                photos.append(
                    {
                        "name": name,
                        "file": str(dst.relative_to(out)),
                        "package": package,
                        "package_version": e.get("package_version", ""),
                        "source_path": e["path"],
                        "sha256": digest,
                        "width": e.get("width"),
                        "height": e.get("height"),
                        "licence": LICENCES.get(package, "unknown"),
                        "split": split[e["sha256"]],
                    }
                )
    manifest = {
        "source": str(list_path),
        "val_rule": f"every {VAL_EVERY}th photo in sha256 order",
        "photos": photos,
        "problems": problems,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--list", type=Path, default=DEFAULT_LIST)
    ap.add_argument("--out", type=Path, default=Path("data/photos"))
    args = ap.parse_args(argv)
    m = fetch_all(args.list, args.out)
    n_val = sum(p["split"] == "val" for p in m["photos"])
    sys.stdout.write(f"{len(m['photos'])} photos ({n_val} val) in {args.out}; {len(m['problems'])} problems\n")
    for p in m["problems"]:
        sys.stdout.write(f"  {p}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
