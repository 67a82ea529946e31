"""Render Noto Color Emoji to 64x64 RGBA tensors labelled by Unicode emoji group (GAN training data).

Run ``python -m training.emoji_data --out data/emoji``; it writes ``emoji64.safetensors``
(uint8 images (N,4,64,64), int64 group labels and subgroup labels, uint8 held-out flags, uint8 art
styles) and ``index.json`` (the groups, the subgroups, the styles and one entry per emoji). Needs Debian
``fonts-noto-color-emoji``, ``unicode-data`` and ``libfribidi0`` (raqm layout).

``--twemoji DIR`` adds a second art style: the same emoji drawn by Twemoji (graphics CC-BY 4.0, from
the npm package ``emoji-datasource-twitter``, whose ``img/twitter/64`` PNGs DIR points at or holds), after
the Noto images, with the same labels and the same held-out emoji, and style 1 (Noto is style 0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST_PATH = Path("/usr/share/unicode/emoji/emoji-test.txt")
# The 9 Unicode emoji groups in emoji-test.txt order, without "Component" (skin tones, hair).
GROUPS = (
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Food & Drink",
    "Travel & Places",
    "Activities",
    "Objects",
    "Symbols",
    "Flags",
)
SKIN_TONES = frozenset(range(0x1F3FB, 0x1F400))
FONT_SIZE = 109  # the only size Noto Color Emoji's bitmap strikes accept
HELD_OUT_FRACTION = 0.10


@dataclass(frozen=True)
class EmojiEntry:
    """One fully-qualified emoji: its code points, CLDR name, group and label index."""

    codepoints: str  # space-separated hex, as in emoji-test.txt
    name: str
    group: str
    label: int
    subgroup: str = ""  # the Unicode subgroup within the group, e.g. "sport" in Activities

    @property
    def text(self) -> str:
        return "".join(chr(int(cp, 16)) for cp in self.codepoints.split())


def parse_emoji_test(path: Path = EMOJI_TEST_PATH) -> list[EmojiEntry]:
    """Fully-qualified emoji of the 9 groups, skin-tone variants dropped, in file order."""
    entries = []
    group = subgroup = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
            continue
        if line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
            continue
        if not line or line.startswith("#") or group not in GROUPS:
            continue
        cps, rest = line.split(";", 1)
        status, comment = rest.split("#", 1)
        if status.strip() != "fully-qualified":
            continue
        codes = cps.split()
        if any(int(c, 16) in SKIN_TONES for c in codes):
            continue
        # comment: "<emoji> E<version> <name>"
        name = comment.strip().split(" ", 2)[-1]
        entries.append(EmojiEntry(" ".join(codes), name, group, GROUPS.index(group), subgroup))
    return entries


def subgroups(entries: list[EmojiEntry]) -> list[tuple[int, str]]:
    """The (group label, subgroup name) pairs of ``entries`` in file order: the finer labels."""
    return list(dict.fromkeys((e.label, e.subgroup) for e in entries))


def load_font(path: Path = FONT_PATH) -> ImageFont.FreeTypeFont:
    """Noto Color Emoji at its bitmap size with raqm layout (ZWJ sequences and flags as one glyph)."""
    return ImageFont.truetype(str(path), FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)


def render_emoji(text: str, font: ImageFont.FreeTypeFont, size: int = 64) -> Image.Image:
    """One emoji cropped to its glyph's alpha bbox, padded square, resized to ``size`` RGBA."""
    canvas = Image.new("RGBA", (FONT_SIZE * 3, FONT_SIZE * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((FONT_SIZE // 4, FONT_SIZE // 4), text, font=font, embedded_color=True)
    if canvas.getchannel("A").getbbox() is None:
        raise ValueError(f"emoji {text!r} rendered empty")
    return square_glyph(canvas, size)


def twemoji_file(root: Path, codepoints: str) -> Path:
    """The Twemoji 64 px PNG of an emoji: files are named by lowercase hex code points joined by "-",
    at least 4 digits each, some with the variation selector FE0F dropped."""
    codes = [f"{int(c, 16):04x}" for c in codepoints.split()]
    for name in ("-".join(codes), "-".join(c for c in codes if c != "fe0f")):
        if (root / f"{name}.png").is_file():
            return root / f"{name}.png"
    raise FileNotFoundError(f"no Twemoji image for {codepoints} in {root}")


def square_glyph(image: Image.Image, size: int) -> Image.Image:
    """Crop RGBA art to its alpha bbox, pad it square (transparent) and resize to ``size``."""
    bbox = image.getchannel("A").getbbox()
    if bbox is None:
        raise ValueError("empty glyph")
    glyph = image.crop(bbox)
    side = max(glyph.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    # Resample premultiplied so transparent pixels' colour does not bleed into the edges.
    return square.convert("RGBa").resize((size, size), Image.Resampling.LANCZOS).convert("RGBA")


def twemoji_root(path: Path) -> Path:
    """The folder of 64 px PNGs: ``path`` itself or the npm package's ``img/twitter/64`` below it."""
    for cand in (path, path / "img/twitter/64", path / "package/img/twitter/64"):
        if cand.is_dir() and any(cand.glob("*.png")):
            return cand
    raise SystemExit(f"{path}: no Twemoji PNGs (npm pack emoji-datasource-twitter@16.0.0 and untar it)")


def held_out_mask(entries: list[EmojiEntry], fraction: float = HELD_OUT_FRACTION) -> list[bool]:
    """Deterministic per-group hold-out: the ``fraction`` of each group with the smallest sha256 of code points."""
    out = [False] * len(entries)
    for label in range(len(GROUPS)):
        idx = [i for i, e in enumerate(entries) if e.label == label]
        idx.sort(key=lambda i: hashlib.sha256(entries[i].codepoints.encode()).hexdigest())
        for i in idx[: max(1, round(len(idx) * fraction))]:
            out[i] = True
    return out


def build_dataset(out_dir: Path, size: int = 64, twemoji: Path | None = None) -> dict:
    """Render every emoji (and with ``twemoji`` add its Twemoji drawing) and write the tensor file and
    the index; returns per-group counts of one style."""
    from safetensors.torch import save_file

    font = load_font()
    entries = parse_emoji_test()
    held = held_out_mask(entries)
    images = [np.asarray(render_emoji(e.text, font, size)) for e in entries]
    styles = ["noto"]
    if twemoji is not None:
        root = twemoji_root(Path(twemoji))
        for e in entries:
            with Image.open(twemoji_file(root, e.codepoints)) as im:
                images.append(np.asarray(square_glyph(im.convert("RGBA"), size)))
        styles.append("twemoji")
    out_dir.mkdir(parents=True, exist_ok=True)
    subs = subgroups(entries)
    k = len(styles)
    tensors = {
        "images": torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(),
        "labels": torch.tensor([e.label for e in entries] * k, dtype=torch.int64),
        "sublabels": torch.tensor([subs.index((e.label, e.subgroup)) for e in entries] * k, dtype=torch.int64),
        "held_out": torch.tensor(held * k, dtype=torch.uint8),
        "styles": torch.arange(k, dtype=torch.uint8).repeat_interleave(len(entries)),
    }
    save_file(tensors, str(out_dir / "emoji64.safetensors"))
    index = {
        "groups": list(GROUPS),
        "subgroups": [{"label": label, "name": name} for label, name in subs],
        "size": size,
        "font": FONT_PATH.name,
        "styles": styles,  # the images are all emoji in style 0, then all in style 1, ...
        "emoji": [{**asdict(e), "held_out": h} for e, h in zip(entries, held, strict=True)],
    }
    (out_dir / "index.json").write_text(json.dumps(index, ensure_ascii=False, indent=1), encoding="utf-8")
    return {g: sum(1 for e in entries if e.label == i) for i, g in enumerate(GROUPS)}


def load_dataset(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images uint8 (N,4,64,64), labels int64 (N,), held_out bool (N,)) from ``build_dataset``'s file."""
    from safetensors.torch import load_file

    t = load_file(str(Path(data_dir) / "emoji64.safetensors"))
    return t["images"], t["labels"], t["held_out"].bool()


def main() -> None:
    """Command line: render the dataset into ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("data/emoji"))
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--twemoji", type=Path, help="add Twemoji's drawings (emoji-datasource-twitter's PNG folder)")
    args = ap.parse_args()
    counts = build_dataset(args.out, args.size, args.twemoji)
    for group, n in counts.items():
        print(f"{group:20s} {n}")
    print(f"total {sum(counts.values())}{' x 2 styles' if args.twemoji else ''} -> {args.out}")


if __name__ == "__main__":
    main()
