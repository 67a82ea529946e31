"""cli.py: every command produces a correct image; errors are one line and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cli
from models.catalog import default_for, list_models
from models.registry import Task
from tests import odd_inputs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def photo(tmp_path):
    yy, xx = np.mgrid[0:24, 0:32]
    arr = np.stack([xx * 8, yy * 10, (xx + yy) * 4], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "photo.png")
    return tmp_path / "photo.png"


def test_models_json_lists_the_registry(capsys):
    assert cli.main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [s.id for s in list_models()]
    assert set(rows[0]) == {"id", "task", "title", "source", "license", "default", "default_why", "scale", "labels"}
    for task in Task:
        d = default_for(task)
        flagged = [r["id"] for r in rows if r["task"] == task.value and r["default"]]
        assert flagged == ([d.id] if d else [])


def test_models_marks_the_default_resolved_for_this_machine_and_why(cached_hub_upscaler, monkeypatch, capsys):
    """With Real-ESRGAN general x4v3 in the Hugging Face cache, `models` marks it, not the registry's offline
    default, with the reason the app and the other commands give."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the other tasks fall back at once, without asking the Hub
    assert cli.main(["models", "--task", "upscale"]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line for line in lines if line.startswith("*")]
    assert len(marked) == 1 and marked[0].split()[1] == cached_hub_upscaler.id
    assert marked[0].endswith("<- default here: Hub, in cache")
    offline = default_for(Task.UPSCALE).id
    assert any(line.split()[0] == offline for line in lines)  # listed, not marked
    assert cli.main(["models", "--task", "upscale", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[cached_hub_upscaler.id]["default"] and rows[cached_hub_upscaler.id]["default_why"] == "Hub, in cache"
    assert not rows[offline]["default"] and rows[offline]["default_why"] is None


def test_models_task_filter(capsys):
    cli.main(["models", "--task", "inpaint", "--json"])
    assert {r["task"] for r in json.loads(capsys.readouterr().out)} == {"inpaint"}


def test_upscale_file_and_folder(tmp_path, photo):
    out = tmp_path / "up.png"
    assert cli.main(["upscale", str(photo), "-o", str(out), "--model", "bicubic", "--scale", "2.5"]) == 0
    assert Image.open(out).size == (80, 60)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        Image.open(photo).save(folder / name)
    assert cli.main(["upscale", str(folder), "-o", str(tmp_path / "outdir"), "--model", "lanczos", "--scale", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "outdir").iterdir()) == ["a.png", "b.png"]


def test_inpaint_keeps_pixels_outside_the_mask(tmp_path, photo):
    mask = np.zeros((24, 32), np.uint8)
    mask[8:14, 10:20] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    out = tmp_path / "o.png"
    assert cli.main(["inpaint", str(photo), str(tmp_path / "m.png"), "-o", str(out), "--model", "telea"]) == 0
    a, b = np.asarray(Image.open(photo)), np.asarray(Image.open(out))[..., :3]
    grown = np.zeros_like(mask)
    grown[8 - 4 : 14 + 4, 10 - 4 : 20 + 4] = 255  # the app's default: the mask grown by 4 px
    assert np.array_equal(a[grown == 0], b[grown == 0])
    assert not np.array_equal(a[mask > 0], b[mask > 0])
    changed = np.argwhere((a != b).any(-1))
    assert changed[:, 0].min() < 8 and changed[:, 0].max() >= 14  # the fill reaches past the painted mask
    out0 = tmp_path / "o0.png"
    cli.main(["inpaint", str(photo), str(tmp_path / "m.png"), "-o", str(out0), "--model", "telea", "--dilate", "0"])
    c = np.asarray(Image.open(out0))[..., :3]
    assert np.array_equal(a[mask == 0], c[mask == 0])


def test_composite_and_edit(tmp_path, photo):
    fg = np.zeros((4, 4, 4), np.uint8)
    fg[..., 1] = 255
    fg[..., 3] = 255
    Image.fromarray(fg, "RGBA").save(tmp_path / "fg.png")
    out = tmp_path / "c.png"
    assert cli.main(["composite", str(photo), str(tmp_path / "fg.png"), "-o", str(out), "--x", "3", "--y", "2"]) == 0
    res = np.asarray(Image.open(out))
    assert tuple(res[3, 4, :3]) == (0, 255, 0) and tuple(res[0, 0, :3]) == tuple(np.asarray(Image.open(photo))[0, 0])

    recipe = tmp_path / "r.json"
    recipe.write_text(
        json.dumps({"version": 1, "steps": [{"op": "crop", "left": 2, "top": 3, "width": 10, "height": 5}]})
    )
    assert cli.main(["edit", str(photo), "-o", str(tmp_path / "e.png"), "--recipe", str(recipe)]) == 0
    e = np.asarray(Image.open(tmp_path / "e.png"))
    assert np.array_equal(e[..., :3], np.asarray(Image.open(photo))[3:8, 2:12])


def test_metadata_the_result_leaves_out_gets_a_note(tmp_path, capsys):
    src = tmp_path / "dpi.jpg"
    src.write_bytes(odd_inputs.jpeg_with_text_resolution())
    out = tmp_path / "o.png"
    assert cli.main(["upscale", str(src), "-o", str(out), "--model", "nearest", "--scale", "1"]) == 0
    err = capsys.readouterr().err
    assert "note: dpi.jpg: EXIF entries too damaged to write back were left out" in err
    assert Image.open(out).size == (16, 16)


def _animation(path: Path, loop: int = 2) -> list[np.ndarray]:
    """Three different 8x6 frames of 100, 200 and 300 ms as the animation ``path`` names; returns them (RGB)."""
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 4, (6, 8, 3), dtype=np.uint8) * 80 for _ in range(3)]
    images = [Image.fromarray(f) for f in frames]
    extra = {"lossless": True} if path.suffix == ".webp" else {}
    images[0].save(path, save_all=True, append_images=images[1:], duration=[100, 200, 300], loop=loop, **extra)
    return frames


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_an_animation_is_upscaled_frame_by_frame_with_its_timing_and_loop(tmp_path, capsys, suffix):
    frames = _animation(tmp_path / f"anim{suffix}")
    out = tmp_path / f"out{suffix}"
    assert (
        cli.main(["upscale", str(tmp_path / f"anim{suffix}"), "-o", str(out), "--model", "nearest", "--scale", "2"])
        == 0
    )
    captured = capsys.readouterr()
    assert re.search(rf"^note: anim{re.escape(suffix)}: 3 frames, about \d+ s$", captured.err, re.M), captured.err
    assert "only the first is used" not in captured.err and "3 frames of 16x12" in captured.out
    with Image.open(out) as img:
        assert img.format == {".gif": "GIF", ".webp": "WEBP", ".png": "PNG"}[suffix]
        assert img.n_frames == 3 and img.size == (16, 12) and img.info["loop"] == 2
        for i, frame in enumerate(frames):
            img.seek(i)
            img.load()
            assert img.info["duration"] == 100 * (i + 1)
            assert np.array_equal(np.asarray(img.convert("RGB")), frame.repeat(2, 0).repeat(2, 1))


def test_an_animation_past_the_frame_limit_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    from ops import animation

    _animation(tmp_path / "anim.gif")
    monkeypatch.setattr(animation, "MAX_FRAMES", 2)
    monkeypatch.setattr(cli, "_cache", lambda device: pytest.fail("the model was loaded"))
    assert cli.main(["upscale", str(tmp_path / "anim.gif"), "-o", str(tmp_path / "o.gif"), "--model", "nearest"]) == 2
    err = capsys.readouterr().err
    assert err == "error: anim.gif has 3 frames; Ganvas upscales animations of up to 2 frames. Shorten it first.\n"
    assert not (tmp_path / "o.gif").exists()
    assert cli.main(["upscale", str(tmp_path / "anim.gif"), "-o", str(tmp_path / "o.jpg"), "--model", "nearest"]) == 2


def _tree(root: Path) -> dict[str, Path]:
    """A folder of a JPEG with EXIF, a PNG with transparency, and below it a sub/deeper folder of a WebP and an
    animated GIF; returns them by name."""
    yy, xx = np.mgrid[0:24, 0:32]
    grain = np.random.default_rng(2).integers(-30, 30, (24, 32, 3))  # a photo's texture: PNG cannot shrink it
    photo = (np.stack([xx * 8, yy * 10, (xx + yy) * 4], -1) + grain).clip(0, 255).astype(np.uint8)
    (root / "sub" / "deeper").mkdir(parents=True)
    exif = Image.Exif()
    exif[0x010F] = "GanvasCam"
    Image.fromarray(photo).save(root / "a.jpg", quality=95, exif=exif)
    rgba = np.dstack([photo, np.full((24, 32), 255, np.uint8)])
    rgba[:8, :8, 3] = 0
    Image.fromarray(rgba, "RGBA").save(root / "b.png")
    Image.fromarray(photo).save(root / "sub" / "c.webp", lossless=True)
    _animation(root / "sub" / "deeper" / "d.gif")
    return {p.name: p for p in root.rglob("*.*")}


def test_a_folder_keeps_its_types_and_tree_with_format_keep_and_recursive(tmp_path, capsys):
    _tree(tmp_path / "in")
    out = tmp_path / "out"
    args = ["upscale", str(tmp_path / "in"), "-o", str(out), "--model", "nearest", "--scale", "2"]
    assert cli.main([*args, "--format", "keep", "--recursive"]) == 0
    written = {str(p.relative_to(out)): p for p in out.rglob("*.*")}
    assert sorted(written) == ["a.jpg", "b.png", "sub/c.webp", "sub/deeper/d.gif"]
    kinds = {name: (Image.open(p).format, Image.open(p).size) for name, p in written.items()}
    assert kinds == {
        "a.jpg": ("JPEG", (64, 48)),
        "b.png": ("PNG", (64, 48)),
        "sub/c.webp": ("WEBP", (64, 48)),
        "sub/deeper/d.gif": ("GIF", (16, 12)),
    }
    assert Image.open(written["a.jpg"]).getexif()[0x010F] == "GanvasCam"
    assert Image.open(written["sub/deeper/d.gif"]).n_frames == 3
    assert Image.open(written["b.png"]).mode == "RGBA"
    # without --recursive, the folder's own files only, as PNGs (the default) in a second folder
    capsys.readouterr()
    assert cli.main([*args[:3], str(tmp_path / "flat"), *args[4:]]) == 0
    assert sorted(p.name for p in (tmp_path / "flat").rglob("*")) == ["a.png", "b.png"]


def test_format_jpg_and_quality_shrink_a_folder_and_flatten_transparency_with_a_note(tmp_path, capsys):
    _tree(tmp_path / "in")
    args = ["upscale", str(tmp_path / "in"), "--model", "bicubic", "--scale", "4", "--recursive"]
    assert cli.main([*args, "-o", str(tmp_path / "png")]) == 0
    assert cli.main([*args, "-o", str(tmp_path / "q92"), "--format", "jpg"]) == 0
    err = capsys.readouterr().err
    assert "note: b.png has transparency, which JPEG cannot hold: it is flattened onto white." in err
    assert "note: d.gif is an animation and JPEG holds one picture: it stays GIF." in err
    assert cli.main([*args, "-o", str(tmp_path / "q50"), "--format", "jpg", "--quality", "50"]) == 0
    sizes = {q: (tmp_path / q / "a.jpg").stat().st_size for q in ("q92", "q50")}
    png_size = (tmp_path / "png" / "a.png").stat().st_size
    assert sizes["q50"] < sizes["q92"] < png_size, (sizes, png_size)
    flat = np.asarray(Image.open(tmp_path / "q92" / "b.jpg"))
    assert flat.shape == (96, 128, 3) and flat[:28, :28].min() > 240  # the clear corner is white
    assert Image.open(tmp_path / "q92" / "a.jpg").getexif()[0x010F] == "GanvasCam"
    assert sorted(p.name for p in (tmp_path / "q92").rglob("*.*")) == ["a.jpg", "b.jpg", "c.jpg", "d.gif"]
    assert cli.main([*args, "-o", str(tmp_path / "webp"), "--format", "webp"]) == 0
    assert Image.open(tmp_path / "webp" / "b.webp").mode == "RGBA"
    assert Image.open(tmp_path / "webp" / "sub" / "deeper" / "d.webp").n_frames == 3


def test_cutout_takes_a_folder_tree_and_a_format(tmp_path):
    _tree(tmp_path / "in")
    out = tmp_path / "out"
    args = ["cutout", str(tmp_path / "in"), "-o", str(out), "--model", "grabcut", "--recursive", "--format", "webp"]
    assert cli.main(args) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.*")) == [
        "a.webp",
        "b.webp",
        "sub/c.webp",
        "sub/deeper/d.webp",
    ]
    assert Image.open(out / "a.webp").mode == "RGBA"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "jpg"], "--format applies when -o is a folder"),
        (["--quality", "80"], "--quality applies to JPEG and WebP output"),
        (["--recursive"], "--recursive walks a folder"),
    ],
)
def test_batch_options_that_mean_nothing_here_are_refused(tmp_path, photo, capsys, extra, message):
    assert cli.main(["upscale", str(photo), "-o", str(tmp_path / "o.png"), "--model", "nearest", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err


def test_the_output_folder_inside_the_input_is_not_walked(tmp_path):
    _tree(tmp_path / "in")
    args = ["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "in" / "big"), "--model", "nearest", "--recursive"]
    assert cli.main([*args, "--scale", "1"]) == 0
    assert cli.main([*args, "--scale", "1"]) == 0  # the first run's results are not inputs of the second
    assert not (tmp_path / "in" / "big" / "big").exists()


def test_a_foreground_off_the_background_is_a_note(tmp_path, photo, capsys):
    out = tmp_path / "c.png"
    assert cli.main(["composite", str(photo), str(photo), "-o", str(out), "--x", "500"]) == 0
    assert "note: The foreground (32x24 at x 500, y 0) lies wholly outside" in capsys.readouterr().err
    assert np.array_equal(np.asarray(Image.open(out))[..., :3], np.asarray(Image.open(photo)))
    assert cli.main(["composite", str(photo), str(photo), "-o", str(out), "--x", "31"]) == 0
    assert "note" not in capsys.readouterr().err


def test_single_output_commands_write_into_an_existing_folder(tmp_path, photo):
    """inpaint, composite and edit take an existing folder as -o, like upscale: the result is named after the
    input (the background for composite); a folder given where a file must be written is a plain error."""
    folder = tmp_path / "results"
    folder.mkdir()
    mask = np.zeros((24, 32), np.uint8)
    mask[8:14, 10:20] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    recipe = tmp_path / "r.json"
    recipe.write_text('{"version": 1, "steps": [{"op": "flip", "direction": "horizontal"}]}')
    assert cli.main(["inpaint", str(photo), str(tmp_path / "m.png"), "-o", str(folder), "--model", "telea"]) == 0
    assert Image.open(folder / "photo.png").size == (32, 24)
    (folder / "photo.png").unlink()
    assert cli.main(["composite", str(photo), str(tmp_path / "m.png"), "-o", str(folder)]) == 0
    assert Image.open(folder / "photo.png").size == (32, 24)
    (folder / "photo.png").unlink()
    assert cli.main(["edit", str(photo), "-o", str(folder), "--recipe", str(recipe)]) == 0
    flipped = np.asarray(Image.open(folder / "photo.png"))[..., :3]
    assert np.array_equal(flipped, np.asarray(Image.open(photo))[:, ::-1])

    from core.errors import InvalidInputError
    from ops.convert import check_can_save

    with pytest.raises(InvalidInputError, match="is a folder"):
        check_can_save(folder, has_alpha=False)
    with pytest.raises(InvalidInputError, match="end it in .png"):
        check_can_save(tmp_path / "result", has_alpha=False, bit_depth=16)


@pytest.mark.skipif(default_for(Task.GENERATE) is None, reason="no generator registered yet")
def test_generate_is_reproducible(tmp_path):
    # --count is the app's name for --n
    for d, count in (("a", "--n"), ("b", "--count")):
        assert cli.main(["generate", "-o", str(tmp_path / d), "--seed", "3", count, "2"]) == 0
    files = sorted((tmp_path / "a").glob("*.png"))
    assert len(files) == 2 and len(list((tmp_path / "b").glob("*.png"))) == 2
    for f in files:
        assert np.array_equal(np.asarray(Image.open(f)), np.asarray(Image.open(tmp_path / "b" / f.name)))


@pytest.mark.skipif(default_for(Task.GENERATE) is None, reason="no generator registered yet")
def test_generated_files_are_named_by_label_and_truncation_so_runs_share_a_folder(tmp_path):
    spec = default_for(Task.GENERATE)
    first, second = spec.labels[0], spec.labels[-1]
    assert cli.main(["generate", "-o", str(tmp_path), "--n", "2", "--label", first]) == 0
    assert cli.main(["generate", "-o", str(tmp_path), "--n", "2", "--label", second.upper()]) == 0  # any case
    assert cli.main(["generate", "-o", str(tmp_path), "--n", "2", "--label", first, "--truncation", "0.5"]) == 0
    names = sorted(f.name for f in tmp_path.glob("*.png"))
    assert len(names) == 6  # nothing overwritten
    slug = {lab: re.sub(r"[^a-z0-9]+", "-", lab.casefold()).strip("-") for lab in (first, second)}
    assert f"{spec.id}-{slug[first]}-seed1.png" in names and f"{spec.id}-{slug[second]}-seed0.png" in names
    assert f"{spec.id}-{slug[first]}-t0.5-seed0.png" in names
    one = np.asarray(Image.open(tmp_path / f"{spec.id}-{slug[first]}-seed0.png"))
    assert not np.array_equal(one, np.asarray(Image.open(tmp_path / f"{spec.id}-{slug[second]}-seed0.png")))


@pytest.mark.skipif(default_for(Task.GENERATE) is None, reason="no generator registered yet")
def test_generate_variations_and_gif(tmp_path):
    argv = ["generate", "-o", str(tmp_path), "--seed", "5", "--n", "3", "--interpolate-to", "6", "--frames", "4"]
    assert cli.main([*argv, "--variations", "0", "--animation", "gif", "--fps", "10"]) == 0
    seed = np.asarray(Image.open(next(tmp_path.glob("*-seed5.png")))).astype(int)
    same = sorted(tmp_path.glob("*-seed5-var*-s0.png"))
    assert len(same) == 3
    for f in same:  # strength 0 is the seed's own image
        assert np.abs(np.asarray(Image.open(f)).astype(int) - seed).max() <= 1
    anim = Image.open(next(tmp_path.glob("*-interp-5-6.gif")))
    assert anim.n_frames == 6 and anim.info["duration"] == 100  # 4 frames there and 2 back, at 10 fps
    far = tmp_path / "far"
    assert cli.main(["generate", "-o", str(far), "--seed", "5", "--n", "3", "--variations", "0.6"]) == 0
    moved = [np.abs(np.asarray(Image.open(f)).astype(int) - seed).mean() for f in sorted(far.glob("*-var*.png"))]
    assert len(moved) == 3 and min(moved) > 2 and len({round(m, 3) for m in moved}) == 3


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "-o", "out", "--variations", "1.5"],
        ["generate", "-o", "out", "--interpolate-to", "3", "--fps", "0"],
        ["upscale", "missing.png", "-o", "x.png"],
        ["upscale", "{photo}", "-o", "x.png", "--model", "no-such-model"],
        ["upscale", "{photo}", "-o", "x.png", "--model", "telea"],
        ["upscale", "{photo}", "-o", "x.png", "--scale", "20"],
        ["edit", "{photo}", "-o", "x.png", "--recipe", "missing.json"],
        ["upscale", "{photo}"],
        ["upscale", "{photo}", "-o", "x.gif", "--model", "bicubic"],
        ["upscale", "{photo}", "{photo}", "-o", "out", "--model", "bicubic"],
        ["upscale", "{photo}", "{photo}", "-o", "x.png", "--model", "bicubic"],
        ["upscale", "{photo}", "-o", "x.png", "--model", "bicubic", "--tile", "-1"],
        ["upscale", "{photo}", "-o", "x.png", "--model", "bicubic", "--tile", "8"],  # seams, 10x the time
        ["inpaint", "{photo}", "{photo}", "-o", "out", "--model", "telea"],  # no file type in the name
        ["composite", "{photo}", "{photo}", "-o", "out.xyz"],
        ["edit", "{photo}", "-o", "out", "--recipe", "{recipe}"],
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, photo, args):
    (tmp_path / "r.json").write_text('{"version": 1, "steps": [{"op": "flip", "direction": "horizontal"}]}')
    argv = [a.replace("{photo}", str(photo)).replace("{recipe}", str(tmp_path / "r.json")) for a in args]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error" in lines[0].lower(), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_a_batch_checks_every_file_before_it_writes_the_first(tmp_path, photo):
    """A folder whose last file is no image stops before any upscaling, and two folders get a plain message."""
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photo, folder / "a.png")
    (folder / "zz.png").write_text("not an image")
    run = [sys.executable, str(ROOT / "cli.py"), "upscale"]
    proc = subprocess.run(
        [*run, str(folder), "-o", "out", "--model", "bicubic"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "zz.png is not an image Ganvas can read" in proc.stderr, proc.stderr
    assert not list(tmp_path.glob("out/*.png"))
    proc = subprocess.run(
        [*run, str(folder), str(folder), "-o", "out", "--model", "bicubic"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "is a folder: give one folder alone, or image files" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("args", "says", "not_said"),
    [
        (["edit", "{photo}", "-o", "x.png", "--recipe", "{photo}"], "is not text: --recipe takes a recipe JSON", ""),
        (["generate", "-o", "{photo}"], "-o takes a folder for the generated files", ""),
        (["generate", "-o", "{photo}/sub"], "is a file, not a folder", "Errno"),
        (["generate", "-o", "out", "--fps", "0"], "--fps only applies with --interpolate-to", ""),
        (
            ["composite", "{photo}", "{photo}", "-o", "x.png", "--softness", "0.1", "--bg-depth", "0"],
            "--bg-depth, --softness only apply with --depth",
            "",
        ),
        (["upscale", "{photo}", "-o", "{photo}/x.png", "--model", "bicubic"], "is a file, not a folder", "Errno"),
        (["upscale", "{photo}", "{photo}", "-o", "{photo}/out", "--model", "bicubic"], "is a file, not a", "Errno"),
        (["upscale", "{photo}", "-o", "x.png", "--model", "telea"], "telea is an inpaint model, not an upscale", ""),
        (["upscale", "{photo}", "-o", "x.png", "--model", "nosuch"], "The upscale models are: ", "telea"),
    ],
)
def test_error_messages_say_what_is_wrong(tmp_path, photo, args, says, not_said):
    argv = [a.replace("{photo}", str(photo)) for a in args]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert not not_said or not_said not in proc.stderr, proc.stderr  # an upscale error lists upscale models only


def test_every_option_says_what_it_does_and_help_needs_no_torch():
    """``cli.py CMD --help`` documents every argument, and building the parser stays quick (no torch import)."""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = [
        f"{name} {a.dest}"
        for name, sub in commands.items()
        for a in sub._actions
        if not a.help and not isinstance(a, argparse._HelpAction)
    ]
    assert not missing, f"arguments without a help text: {missing}"
    code = "import sys, cli; cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.fixture()
def disc_photo(tmp_path):
    yy, xx = np.mgrid[0:48, 0:64]
    disc = (yy - 24) ** 2 + (xx - 32) ** 2 < 12**2
    arr = np.stack([xx * 2 + 60, xx * 2 + 60, xx * 2 + 60], -1)
    arr[disc] = (230, 30, 30)
    Image.fromarray(arr.astype(np.uint8)).save(tmp_path / "disc.png")
    return tmp_path / "disc.png", disc


def test_cutout_writes_rgba_of_the_input_size_and_a_folder_gives_a_folder(tmp_path, disc_photo):
    photo, disc = disc_photo
    out = tmp_path / "cut.png"
    assert cli.main(["cutout", str(photo), "-o", str(out), "--model", "grabcut", "--box", "16,8,32,32"]) == 0
    got = Image.open(out)
    assert got.mode == "RGBA" and got.size == (64, 48)
    alpha = np.asarray(got)[..., 3]
    assert alpha[disc].mean() > 240 and alpha[~disc].mean() < 15
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        Image.open(photo).save(folder / name)
    assert cli.main(["cutout", str(folder), "-o", str(tmp_path / "outdir"), "--model", "grabcut", "--mask-only"]) == 0
    assert sorted(p.name for p in (tmp_path / "outdir").iterdir()) == ["a.png", "b.png"]
    assert Image.open(tmp_path / "outdir" / "a.png").mode == "L"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--box", "1,2,3"], "A box is four whole numbers X,Y,WIDTH,HEIGHT"),
        (["--box", "100,100,10,10"], "lies outside the 64x48 image"),
        (["--box", "0,0,0,10"], "at least 1 pixel wide"),
        (["--model", "bicubic"], "bicubic is an upscale model, not a cutout model"),
        (["--grow", "500"], "Grow must be between"),
        (["-o", "x.jpg"], "JPEG"),
    ],
)
def test_cutout_errors_are_one_line_and_exit_2(tmp_path, disc_photo, args, says):
    photo, _disc = disc_photo
    argv = ["cutout", str(photo), *(["-o", "out.png"] if "-o" not in args else []), "--model", "grabcut", *args]
    if "--model" in args:
        argv = ["cutout", str(photo), "-o", "out.png", *args]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1, proc.stderr
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob("x.*"))


def _model_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("model: ")]


def test_without_model_a_cached_hub_upscaler_is_used_and_said(tmp_path, photo, cached_hub_upscaler, capsys):
    """The default resolves to the Hub model in the local cache; stderr says which and why, in one line."""
    out = tmp_path / "up.png"
    assert cli.main(["upscale", str(photo), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "realesr-general-x4v3.hub" in captured.out
    assert _model_lines(captured.err) == [
        "model: Real-ESRGAN general x4v3 (Hub, in cache); --model realesr-general-x4v3.hub"
    ]
    assert Image.open(out).size == (128, 96)


def test_offline_the_offline_default_is_used_and_said(tmp_path, photo, hf_home, monkeypatch, capsys):

    monkeypatch.delenv("GANVAS_DEFAULTS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.main(["upscale", str(photo), "-o", str(tmp_path / "up.png")]) == 0
    spec = default_for(Task.UPSCALE)
    rule = "SPAN x2 up to x2, SPAN x4 above"  # the offline upscaler depends on the scale (default x4)
    expected = f"model: {rule} (offline: HF_HUB_OFFLINE is set); --model {spec.id}"
    assert spec.id == "span-x4" and _model_lines(capsys.readouterr().err) == [expected]
    assert cli.main(["upscale", str(photo), "-o", str(tmp_path / "up2.png"), "--scale", "2"]) == 0
    captured = capsys.readouterr()
    assert _model_lines(captured.err) == [f"model: {rule} (offline: HF_HUB_OFFLINE is set); --model span-x2"]
    assert "span-x2" in captured.out and Image.open(tmp_path / "up2.png").size == (64, 48)


def test_model_and_the_environment_variable_win_over_the_cache(
    tmp_path, photo, cached_hub_upscaler, monkeypatch, capsys
):
    assert cli.main(["upscale", str(photo), "-o", str(tmp_path / "a.png"), "--model", "bicubic"]) == 0
    assert _model_lines(capsys.readouterr().err) == []  # the user chose: nothing to explain
    monkeypatch.setenv("GANVAS_UPSCALE_MODEL", "lanczos")
    assert cli.main(["upscale", str(photo), "-o", str(tmp_path / "b.png")]) == 0
    captured = capsys.readouterr()
    assert "lanczos" in captured.out
    assert _model_lines(captured.err) == ["model: Lanczos-3 (set by GANVAS_UPSCALE_MODEL); --model lanczos"]
    assert cli.main(["upscale", str(photo), "-o", str(tmp_path / "c.png"), "--model", "nearest"]) == 0
    assert "nearest" in capsys.readouterr().out


# ----------------------------------------------------------------------------- messages in our words (issue 32)


def _one_error(capfd) -> str:
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(("error: ", "cli.py")), err
    assert "Traceback" not in err and "Errno" not in err
    return lines[0]


def test_an_empty_recipe_is_the_message_the_app_gives(tmp_path, photo, capfd):
    """The CLI said 'The recipe is not valid JSON (line 1, column 1)', the app took it as no steps: one rule."""
    from ops.edit import Recipe

    (tmp_path / "empty.json").write_text("\n")
    assert (
        cli.main(["edit", str(photo), "-o", str(tmp_path / "out.png"), "--recipe", str(tmp_path / "empty.json")]) == 2
    )
    with pytest.raises(Exception) as err:
        Recipe.from_json("")
    assert _one_error(capfd) == f"error: {err.value}" and "The recipe is empty" in str(err.value)


def test_a_depth_map_of_another_size_is_resized_with_a_note(tmp_path, photo, capfd):
    """A depth map of another size was refused ('they must be the same size') while a mask was resized: both
    are resized now, with a note."""
    Image.new("L", (8, 6), 40).save(tmp_path / "depth.png")
    Image.new("L", (5, 5), 255).save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    argv = ["composite", str(photo), str(photo), "-o", str(out), "--mask", str(tmp_path / "mask.png"), "--depth"]
    assert cli.main([*argv, "--bg-depth", str(tmp_path / "depth.png")]) == 0
    notes = [line for line in capfd.readouterr().err.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: The mask was 5x5 and the foreground 32x24: the mask was resized to match.",
        "note: The background depth map was 8x6 and the background 32x24: the background depth map was resized "
        "to match.",
    ]
    assert Image.open(out).size == (32, 24)


@pytest.mark.parametrize("value", ["1e308", "nan", "-inf"])
def test_a_depth_that_is_no_depth_is_refused_in_words(tmp_path, photo, capfd, value):
    """--bg-depth 1e308 raised RuntimeError: value cannot be converted to type float without overflow."""
    argv = ["composite", str(photo), str(photo), "-o", str(tmp_path / "o.png"), "--depth", f"--bg-depth={value}"]
    assert cli.main(argv) == 2
    assert "depth must lie between 0 (nearest) and 1 (farthest)" in _one_error(capfd)


def test_a_long_refused_value_is_quoted_short(tmp_path, photo, capfd):
    """argparse quoted a refused value whole: 10,000 characters back for 10,000 sent."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(["upscale", str(photo), "-o", "x.png", f"--scale={'x' * 10_000}"])
    line = _one_error(capfd)
    assert exit_.value.code == 2 and "invalid float value" in line and "10,002 characters" in line and len(line) < 200


def test_a_system_error_is_said_without_its_number(tmp_path, photo, capfd, monkeypatch):
    import ops.convert

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out.png"))

    monkeypatch.setattr(ops.convert, "save_image", full)
    assert cli.main(["upscale", str(photo), "-o", str(tmp_path / "out.png"), "--model", "nearest"]) == 2
    assert _one_error(capfd) == f"error: Cannot use {tmp_path / 'out.png'}: no space left on device."


def test_a_fault_of_ganvas_is_one_line_and_the_details_go_to_the_log(tmp_path, photo, capfd, monkeypatch):
    """An unexpected exception printed a library's words ('cannot convert float NaN to integer') or, for a
    RuntimeError, a traceback: one line, and the traceback in the log."""
    import logging

    import ops.upscale

    def broken(*args, **kwargs):
        raise RuntimeError("cannot convert float NaN to integer")

    monkeypatch.setattr(ops.upscale, "upscale", broken)
    with _ganvas_records() as records:
        assert cli.main(["upscale", str(photo), "-o", str(tmp_path / "out.png"), "--model", "nearest"]) == 2
    line = _one_error(capfd)
    assert line.startswith("error: Something went wrong in Ganvas with this upscale") and "NaN" not in line
    assert any(r.levelno == logging.ERROR and r.exc_info for r in records)


@contextlib.contextmanager
def _ganvas_records():
    """The records the ``ganvas`` logger emits meanwhile (the CLI sends them to GANVAS_LOG)."""
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    log = logging.getLogger("ganvas")
    log.addHandler(handler)
    try:
        yield records
    finally:
        log.removeHandler(handler)


def test_an_edit_recipe_removes_the_background_with_the_default_cutout_model(tmp_path, disc_photo):
    """The Edit tab's "remove background" step replays in the CLI: the red disc on a grey ramp, laid on
    green and cropped to it."""
    photo, disc = disc_photo
    recipe = tmp_path / "r.json"
    steps = [{"op": "remove_background", "backdrop": "colour", "colour": [0, 1, 0], "crop_to_subject": True}]
    recipe.write_text(json.dumps({"version": 1, "steps": steps}))
    out = tmp_path / "o.png"
    assert cli.main(["edit", str(photo), "-o", str(out), "--recipe", str(recipe)]) == 0
    got = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert abs(got.shape[0] - 23) <= 4 and abs(got.shape[1] - 23) <= 4  # the disc's box, 23 px across
    assert got[got.shape[0] // 2, got.shape[1] // 2].tolist() == [230, 30, 30]  # the subject is kept
    corner = got[0, 0]
    assert corner[1] > 150 and corner[0] < 120  # outside the disc: green, not the grey ramp
