"""The emoji dataset renderer: parsing emoji-test.txt, 64x64 RGBA stickers, a deterministic hold-out."""

from __future__ import annotations

import numpy as np
import pytest

from models.training.emoji_data import (
    EMOJI_TEST_PATH,
    FONT_PATH,
    GROUPS,
    SKIN_TONES,
    EmojiEntry,
    held_out_mask,
    load_font,
    parse_emoji_test,
    render_emoji,
    subgroups,
)


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
