"""The emoji dataset renderer: parsing emoji-test.txt, 64x64 RGBA stickers, a deterministic hold-out."""

from __future__ import annotations

import numpy as np
import pytest

from training.emoji_data import (
    EMOJI_TEST_PATH,
    FONT_PATH,
    GROUPS,
    SKIN_TONES,
    EmojiEntry,
    held_out_mask,
    load_font,
    parse_emoji_test,
    render_emoji,
    square_glyph,
    subgroups,
    twemoji_file,
    twemoji_root,
)

pytestmark = pytest.mark.training


@pytest.mark.skipif(not EMOJI_TEST_PATH.is_file(), reason="Debian unicode-data is not installed")
def test_parse_keeps_nine_groups_without_skin_tones():
    entries = parse_emoji_test()
    assert {e.group for e in entries} == set(GROUPS)
    assert all(GROUPS[e.label] == e.group for e in entries)
    assert not any(int(cp, 16) in SKIN_TONES for e in entries for cp in e.codepoints.split())
    assert len({e.codepoints for e in entries}) == len(entries)
    subs = subgroups(entries)
    assert len(subs) == len(set(subs)) > len(GROUPS)  # finer labels, each (group, subgroup) once
    by_name = {e.name: e for e in entries}
    assert (by_name["soccer ball"].label, by_name["soccer ball"].subgroup) == (GROUPS.index("Activities"), "sport")
    assert by_name["grinning face"].subgroup == "face-smiling"
    assert [label for label, _ in subs] == sorted(label for label, _ in subs)  # in file order, group by group


def test_held_out_is_ten_percent_per_group_and_deterministic():
    entries = [EmojiEntry(f"{0x1F600 + i:X}", f"e{i}", GROUPS[i % 2], i % 2) for i in range(40)]
    a, b = held_out_mask(entries), held_out_mask(list(entries))
    assert a == b
    for label in (0, 1):
        assert sum(h for h, e in zip(a, entries, strict=True) if e.label == label) == 2


@pytest.mark.skipif(not FONT_PATH.is_file(), reason="Debian fonts-noto-color-emoji is not installed")
def test_render_gives_64px_rgba_with_transparent_corners():
    font = load_font()
    for text in ("\U0001f600", "\U0001f34e", "\u26bd"):  # grinning face, red apple, soccer ball
        im = render_emoji(text, font)
        assert im.mode == "RGBA" and im.size == (64, 64)
        a = np.asarray(im)[..., 3]
        assert a[0, 0] == a[0, -1] == a[-1, 0] == a[-1, -1] == 0
        assert a[24:40, 24:40].mean() > 200
        # cropped to the glyph: it touches at least two opposite borders of the square
        rows, cols = np.nonzero(a > 0)
        assert (rows.min() == 0 and rows.max() == 63) or (cols.min() == 0 and cols.max() == 63)


def test_twemoji_files_are_found_with_or_without_the_variation_selector(tmp_path):
    from PIL import Image

    root = tmp_path / "package" / "img" / "twitter" / "64"
    root.mkdir(parents=True)
    for name in ("1f600", "2764-fe0f-200d-1f525", "263a"):
        Image.new("RGBA", (64, 64)).save(root / f"{name}.png")
    assert twemoji_root(tmp_path) == root and twemoji_root(root) == root
    assert twemoji_file(root, "1F600").name == "1f600.png"
    assert twemoji_file(root, "2764 FE0F 200D 1F525").name == "2764-fe0f-200d-1f525.png"  # kept where it is named
    assert twemoji_file(root, "263A FE0F").name == "263a.png"  # dropped where the file has none
    with pytest.raises(FileNotFoundError, match="1F34E"):
        twemoji_file(root, "1F34E")
    with pytest.raises(SystemExit, match="emoji-datasource-twitter"):
        twemoji_root(tmp_path / "nothing")


def test_square_glyph_crops_to_the_art_pads_square_and_keeps_edges_clean():
    from PIL import Image

    art = Image.new("RGBA", (64, 64), (0, 255, 0, 0))  # hidden green all around
    art.paste((255, 0, 0, 255), (10, 20, 50, 40))  # a 40 x 20 red bar
    out = np.asarray(square_glyph(art, 32)).astype(int)
    assert out.shape == (32, 32, 4)
    assert out[:, :, 3][0].max() == 0 and out[16, :, 3].min() == 255  # padded above, full width across
    assert out[..., 1][out[..., 3] > 0].max() <= 2  # no hidden green bleeds into the edges
    with pytest.raises(ValueError, match="empty"):
        square_glyph(Image.new("RGBA", (8, 8)), 4)
