"""The tabs' runner functions (what the UI and the API call) without a browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import InvalidInputError
from models.catalog import default_for
from models.registry import Task
from models.runtime import ModelCache
from tests import odd_inputs
from ui.context import AppContext
from ui.models import spec_for


@pytest.fixture()
def ctx(tmp_path):
    return AppContext(cache=ModelCache(device=torch.device("cpu")), outdir=tmp_path)


def test_a_model_of_another_task_is_a_plain_error(ctx, tmp_path):
    from ui.upscale import run_upscale

    gen = default_for(Task.GENERATE)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "p.png")
    with pytest.raises(InvalidInputError, match=f"{gen.id} is a generate model, not an upscale model"):
        run_upscale(ctx, str(tmp_path / "p.png"), gen.id, 2, 0)
    assert spec_for(ctx, Task.UPSCALE, None) == default_for(Task.UPSCALE)


def test_cli_generate_defaults_give_the_apps_default_gallery(ctx, tmp_path):
    import cli
    from ops.defaults import DEFAULT_COUNT
    from ui.generate import run_generate

    spec = default_for(Task.GENERATE)
    items = run_generate(ctx, spec.id, spec.labels[0], 5, DEFAULT_COUNT, 1.0)  # the tab as it opens, seed 5
    assert cli.main(["generate", "-o", str(tmp_path / "cli"), "--seed", "5"]) == 0
    slug = re.sub(r"[^a-z0-9]+", "-", spec.labels[0].casefold()).strip("-")
    files = [tmp_path / "cli" / f"{spec.id}-{slug}-seed{5 + i}.png" for i in range(DEFAULT_COUNT)]
    assert len(items) == len(list((tmp_path / "cli").glob("*.png"))) == DEFAULT_COUNT
    for (path, _), f in zip(items, files, strict=True):
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(f)))
        assert Path(path).name == f.name  # a download from the gallery has the CLI's name


def test_download_all_zips_the_gallery_under_its_names(ctx):
    import zipfile

    from ui.generate import run_generate, run_variations, run_zip

    spec = default_for(Task.GENERATE)
    items = run_generate(ctx, spec.id, spec.labels[-1], 3, 4, 0.7)
    archive = Path(run_zip(ctx, items))
    slug = re.sub(r"[^a-z0-9]+", "-", spec.labels[-1].casefold()).strip("-")
    assert archive.suffix == ".zip" and archive.name.startswith(f"{spec.id}-{slug}-t0.7-seed3")
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == [f"{spec.id}-{slug}-t0.7-seed{s}.png" for s in range(3, 7)]
        for (path, _), name in zip(items, zf.namelist(), strict=True):
            assert zf.read(name) == Path(path).read_bytes()  # the same PNGs, alpha and all
    variations = run_variations(ctx, spec.id, spec.labels[-1], 3, 2, 0.25, 1.0)
    with zipfile.ZipFile(run_zip(ctx, variations)) as zf:
        assert zf.namelist() == [f"{spec.id}-{slug}-seed3-var{i}-s0.25.png" for i in (1, 2)]  # as the captions count
    with pytest.raises(InvalidInputError, match="no images to download"):
        run_zip(ctx, None)


def test_results_are_named_after_their_input(ctx, tmp_path):
    from ui.context import result_stem, safe_stem
    from ui.edit import apply_recipe
    from ui.upscale import run_upscale

    src = tmp_path / "my holiday (2).png"
    Image.fromarray(np.full((6, 5, 3), 90, np.uint8)).save(src)
    before, after, _ = run_upscale(ctx, str(src), "nearest", 2, 0)
    assert Path(after).name == "my-holiday-2-x2.png" and Path(before).name == "my-holiday-2-original.png"
    again = run_upscale(ctx, str(src), "nearest", 2, 0)[1]
    assert again != after and Path(after).is_file()  # a second run keeps the first one's file
    out, _, recipe = apply_recipe(ctx, str(src), '{"version": 1, "steps": [{"op": "flip", "direction": "horizontal"}]}')
    assert (Path(out).name, Path(recipe).name) == ("my-holiday-2-edit.png", "my-holiday-2-recipe.json")
    assert result_stem(np.zeros((2, 2, 3)), "x4") == "x4"  # no file name to go by
    assert result_stem({"background": "/tmp/x/cat.webp", "layers": []}, "inpaint") == "cat-inpaint"
    assert safe_stem("../../etc/passwd") == "etc-passwd" and safe_stem("///") == "result"


def test_each_model_dropdown_says_what_the_chosen_model_is_for():
    """Under every tab's model dropdown a note gives the chosen model's description and licence, and
    choosing another model changes it (the change handler, as the browser would call it)."""
    from app import build_demo
    from models.catalog import default_registry
    from ui.models import model_note

    reg = default_registry()
    assert model_note(reg, "no-such-model") == "" and model_note(reg, None) == ""
    demo = build_demo()
    by_id = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    for task in (Task.GENERATE, Task.INPAINT, Task.UPSCALE):
        dropdown, note = by_id[f"{task.value}-model"], by_id[f"{task.value}-model-note"]
        default = reg.default_for(task)
        assert default.description in note.value and default.license in note.value
        [handler] = [f for f in demo.fns.values() if f.inputs == [dropdown] and f.outputs == [note]]
        if task == Task.UPSCALE:  # "Automatic" is preselected: the rule by scale, then the default's note
            assert dropdown.value == "auto" and note.value.startswith("Picks the model for the output scale: SPAN x2")
            assert handler.fn("auto") == note.value
        other = next(s for s in reg.list(task) if s.id != default.id)
        assert handler.fn(other.id) == model_note(reg, other.id)
        assert other.description in handler.fn(other.id) and handler.fn(other.id) != note.value


def test_a_click_centres_the_foreground_where_it_lands(ctx, tmp_path):
    from ops.composite import place_layer
    from ops.convert import load_image
    from ui.composite import place_at, run_composite

    Image.new("RGBA", (20, 10), (255, 0, 0, 255)).save(tmp_path / "fg.png")
    Image.new("RGB", (100, 80), (0, 0, 255)).save(tmp_path / "bg.png")
    fg = str(tmp_path / "fg.png")
    assert place_at(fg, 1.0, 0, (50, 40)) == (40, 35)
    assert place_at(fg, 2.0, 90, (50, 40)) == (40, 20)  # 40x20 turned upright: 20 wide, 40 tall
    assert place_at({"path": fg}, 1.0, 0, (50, 40)) == (40, 35)
    assert place_at(None, 1.0, 0, (50, 40)) == (50, 40)  # no foreground yet: the click is the corner
    for scale, rotate in [(1.0, 0), (1.5, 30), (0.5, -120)]:
        x, y = place_at(fg, scale, rotate, (50, 40))
        _, alpha = place_layer(load_image(fg), (100, 80), x, y, scale, rotate)
        ys, xs = torch.nonzero(alpha[0, 0] > 0.5, as_tuple=True)
        assert abs(float(xs.float().mean()) - 49.5) <= 1 and abs(float(ys.float().mean()) - 39.5) <= 1
    out = np.asarray(Image.open(run_composite(ctx, str(tmp_path / "bg.png"), fg, x=40, y=35)))
    assert tuple(out[40, 50, :3]) == (255, 0, 0) and tuple(out[5, 5, :3]) == (0, 0, 255)


def test_scale_and_rotation_keep_the_foreground_s_centre(tmp_path):
    from ops.composite import place_layer
    from ops.convert import load_image
    from ui.composite import keep_centre

    Image.new("RGBA", (20, 10), (255, 0, 0, 255)).save(tmp_path / "fg.png")
    fg = str(tmp_path / "fg.png")
    # at (100, 50) and scale 1 its middle is (110, 55); twice the size puts the 40x20 box at (90, 45)
    assert keep_centre(fg, 100, 50, [1.0, 0.0], 2.0, 0) == (90, 45, [2.0, 0.0])
    assert keep_centre({"path": fg}, 90, 45, [2.0, 0.0], 1.0, 90) == (105, 45, [1.0, 90.0])  # upright: 10x20
    placed, x, y = [1.0, 0.0], 100, 50
    for scale, rotate in [(1.5, 30), (0.5, -120), (3.0, 45), (1.0, 0)]:  # a user's sequence of changes
        x, y, placed = keep_centre(fg, x, y, placed, scale, rotate)
        _, alpha = place_layer(load_image(fg), (300, 200), x, y, scale, rotate)
        ys, xs = torch.nonzero(alpha[0, 0] > 0.5, as_tuple=True)
        assert abs(float(xs.float().mean()) - 109.5) <= 1.5 and abs(float(ys.float().mean()) - 54.5) <= 1.5
    assert (x, y) == (100, 50)  # back at the start
    # nothing sound to keep: x and y stay as they are
    assert keep_centre(None, 7, 8, [1.0, 0.0], 2.0, 0) == (7, 8, [2.0, 0.0])
    assert keep_centre(fg, None, 8, [1.0, 0.0], 2.0, 0) == (None, 8, [2.0, 0.0])
    assert keep_centre(str(tmp_path / "missing.png"), 7, 8, [1.0, 0.0], 2.0, 0) == (7, 8, [2.0, 0.0])


def test_edit_straightens_a_photo_and_fills_its_corners_with_the_default_inpainter(ctx, tmp_path):
    import json

    from ui.edit import apply_recipe

    yy, xx = np.mgrid[0:48, 0:64]
    photo = np.stack([xx * 4, yy * 5, 200 - xx * 2], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    steps = [
        {"op": "rotate", "angle": 5},
        {"op": "fill", "transparent": True, "content_aware": True},
        {"op": "pad", "right": 8},
    ]
    path, text, _ = apply_recipe(ctx, str(tmp_path / "photo.png"), json.dumps({"version": 1, "steps": steps}))
    out = np.asarray(Image.open(path))
    assert out.shape == (54, 68 + 8, 4)  # 64x48 turned by 5 degrees needs 68x54, plus the margin
    assert out[..., :-8, 3].min() == 255  # the corners are filled and opaque
    assert out[..., -8:, 3].max() == 0  # the new margin is transparent
    corner = out[:3, :3, :3].astype(int)  # a smooth gradient continues into the corner
    assert np.abs(corner - photo[:3, :3].astype(int)).mean() < 40
    assert json.loads(text)["steps"][1] == {"op": "fill", "transparent": True, "content_aware": True}


def test_a_click_without_a_point_is_a_plain_error():
    from ui.composite import place_at

    with pytest.raises(InvalidInputError, match="Click on the picture"):
        place_at(None, 1.0, 0, None)


def test_send_to_opens_the_tab_then_hands_the_picture_over():
    """Every "Send result to" button first selects its tab, then (only if there was a result) puts the picture
    in the target input, as two separate updates: an editor given a picture in the update that shows its tab
    could drop it."""
    import gradio as gr

    from app import build_demo

    demo = build_demo()
    buttons = [b for b in demo.blocks.values() if isinstance(b, gr.Button) and str(b.value).startswith("Send result")]
    assert len(buttons) == 6 * 6  # six targets (Composite has two), under each of the six tabs
    fns = list(demo.fns.values())
    for button in buttons:
        [first] = [f for f in fns if (button._id, "click") in f.targets]
        assert [type(o) for o in first.outputs] == [gr.Tabs]
        update = first.fn("/tmp/result.png")
        assert update.selected in {"composite", "edit", "inpaint", "upscale", "cutout"}
        with pytest.raises(gr.Error, match="no result to send"):
            first.fn(None)
        [second] = [f for f in fns if f.trigger_after == first._id and f.trigger_only_on_success]
        assert len(second.outputs) == 1 and not isinstance(second.outputs[0], gr.Tabs)
        assert second.fn("/tmp/result.png") == "/tmp/result.png"


def test_an_animation_is_read_as_its_first_frame_with_a_warning(tmp_path, monkeypatch):
    import ui.images
    from ui.images import read_image

    frames = [Image.new("RGB", (8, 6), (60 * i, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "still.gif")
    said: list[str] = []
    monkeypatch.setattr(ui.images.gr, "Warning", lambda msg, *a, **k: said.append(msg))
    image = read_image(str(tmp_path / "anim.gif"))
    assert said == ["anim.gif is an animation of 3 frames: only the first is used."]
    assert image.size == (8, 6) and float(image.rgb.max()) == 0.0  # frame 0 is black
    read_image(str(tmp_path / "still.gif"))
    assert len(said) == 1
    (tmp_path / "dpi.jpg").write_bytes(odd_inputs.jpeg_with_text_resolution())
    assert read_image(str(tmp_path / "dpi.jpg")).size == (16, 16)
    assert said[1:] == ["dpi.jpg: EXIF entries too damaged to write back were left out; the picture is whole."]


def test_composite_warns_when_the_foreground_misses_the_background(ctx, tmp_path, monkeypatch):
    import ui.images
    from ui.composite import run_composite

    Image.new("RGB", (30, 20), (0, 0, 255)).save(tmp_path / "bg.png")
    Image.new("RGB", (6, 6), (255, 0, 0)).save(tmp_path / "fg.png")
    said: list[str] = []
    monkeypatch.setattr(ui.images.gr, "Warning", lambda msg, *a, **k: said.append(msg))
    out = run_composite(ctx, str(tmp_path / "bg.png"), str(tmp_path / "fg.png"), x=40, y=0)
    assert len(said) == 1 and "wholly outside the 30x20 background" in said[0] and "click" in said[0]
    assert np.array_equal(np.asarray(Image.open(out))[..., :3], np.asarray(Image.open(tmp_path / "bg.png")))
    run_composite(ctx, str(tmp_path / "bg.png"), str(tmp_path / "fg.png"), x=25, y=0)
    assert len(said) == 1


def test_an_upload_that_is_no_image_is_a_plain_message(tmp_path):
    """Every image input of the app hands its file on as uploaded, and one PIL cannot open is a gr.Error
    naming it (Gradio's own preprocessing failed there with an unexplained server error)."""
    import gradio as gr
    from gradio.data_classes import FileData

    from app import build_demo

    demo = build_demo()
    inputs = {b for f in demo.fns.values() for b in f.inputs if isinstance(b, gr.Image) and b.interactive is not False}
    assert len(inputs) >= 9 and all(b.type == "filepath" and b.image_mode is None for b in inputs)
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("LA", (5, 4), (9, 200)).save(tmp_path / "ok.png")
    for field in inputs:
        with pytest.raises(gr.Error, match="notes.png is not an image Ganvas can read"):
            field.preprocess(FileData(path=str(tmp_path / "notes.png"), orig_name="notes.png"))
    field = next(iter(inputs))
    assert field.preprocess(FileData(path=str(tmp_path / "ok.png"), orig_name="ok.png")) == str(tmp_path / "ok.png")
    assert field.preprocess(None) is None


def test_old_results_are_deleted_and_new_ones_kept(tmp_path):
    import os
    import time

    ctx = AppContext(cache=ModelCache(device=torch.device("cpu")), outdir=tmp_path / "out", keep_seconds=3600)
    old = ctx.out_path("old")
    old.write_bytes(b"x")
    new = ctx.out_path("new")
    new.write_bytes(b"y")
    day_ago = time.time() - 24 * 3600
    os.utime(old.parent, (day_ago, day_ago))
    assert ctx.prune() == 1
    assert not old.parent.exists() and new.read_bytes() == b"y"
    assert ctx.prune() == 0


def test_surprise_seeds_vary_and_fit_a_caption():
    import random

    from ui.generate import SURPRISE_SEEDS, random_seed

    seeds = [random_seed() for _ in range(20)]
    assert len(set(seeds)) > 15 and all(0 <= s < SURPRISE_SEEDS for s in seeds)
    assert random_seed(random.Random(3)) == random_seed(random.Random(3))
    assert len(f"seed {SURPRISE_SEEDS - 1}") <= 10  # fits a gallery caption


def test_fill_them_says_so_when_nothing_is_transparent(tmp_path):
    from ui.edit import transparent_region

    Image.new("RGB", (8, 6), (10, 20, 30)).save(tmp_path / "opaque.png")
    Image.new("RGBA", (8, 6), (10, 20, 30, 255)).save(tmp_path / "opaque-rgba.png")
    corner = Image.new("RGBA", (8, 6), (10, 20, 30, 255))
    corner.putpixel((0, 0), (0, 0, 0, 0))
    corner.save(tmp_path / "corner.png")
    for name in ("opaque.png", "opaque-rgba.png"):
        with pytest.raises(InvalidInputError, match="Nothing in the result is transparent"):
            transparent_region(str(tmp_path / name))
    assert transparent_region(str(tmp_path / "corner.png")) == {"transparent": True}
    assert transparent_region(None) == {"transparent": True}  # no result yet: the step's own checks speak


def _zlib_level_class(path) -> int:
    """FLEVEL of the PNG's first IDAT zlib stream: 0 = fastest (level 1), 2 = default (level 6)."""
    data = Path(path).read_bytes()
    at = data.index(b"IDAT") + 4
    return data[at + 1] >> 6


def test_large_results_are_saved_fast_and_losslessly(tmp_path):
    from core.image import from_numpy
    from ops.convert import load_image
    from ui.context import FAST_PNG_PIXELS

    app = AppContext(cache=ModelCache(device=torch.device("cpu")), outdir=tmp_path)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    side = int(np.ceil(np.sqrt(FAST_PNG_PIXELS)))
    big = np.tile(small, (side // 64 + 1, side // 64 + 1, 1))[:side, :side]
    for arr, level_class in ((small, 2), (big, 0)):
        path = app.save(from_numpy(arr), "result")
        assert _zlib_level_class(path) == level_class
        back = load_image(path)
        assert np.array_equal(np.asarray(Image.open(path)), arr) and back.alpha is not None


def test_the_tabs_and_their_send_to_buttons_come_from_one_table(monkeypatch):
    """app.TABS lays out the tabs in its order; under each, one button per send-to target of every tab, with the
    labels the browser tests click. Two tabs of one id fail loudly."""
    import gradio as gr

    import app

    demo = app.build_demo()
    tabs = [b for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert [(t.label, t.id) for t in tabs] == [(tab.title, tab.id) for tab in app.TABS]
    assert [t.render_children for t in tabs] == [False, False, True, True, False, False]  # the tabs with an editor
    labels = [
        "Send result to Composite (background)",
        "Send result to Composite (foreground)",
        "Send result to Edit",
        "Send result to Inpaint",
        "Send result to Upscale",
        "Send result to Cut out",
    ]
    for tab in tabs:
        [row] = [c for c in tab.children if isinstance(c, gr.Row) and isinstance(c.children[0], gr.Button)]
        assert [b.value for b in row.children] == labels and tab.children[-1] is row
    monkeypatch.setattr(app, "TABS", (*app.TABS, app.TABS[0]))
    with pytest.raises(ValueError, match="share an id"):
        app.build_demo()


def test_every_button_does_something():
    """A button in a layout without its line in a table (the Edit tab's steps) would do nothing."""
    import gradio as gr

    from app import build_demo

    demo = build_demo()
    clicked = {target for f in demo.fns.values() for target in f.targets}
    idle = [b.value for b in demo.blocks.values() if type(b) is gr.Button and (b._id, "click") not in clicked]
    assert not idle, idle


def test_the_unqueued_inpaint_canvas_is_made_one_at_a_time(ctx, tmp_path):
    """The canvas of a new photo is prepared outside the queue (see ui/inpaint.py): without a lock of its own,
    any number of full decodes could run at once beside the queued jobs."""
    import threading

    from ui.inpaint import source_handler

    Image.new("RGB", (40, 30), (10, 200, 30)).save(tmp_path / "p.png")
    done = threading.Event()
    worker = threading.Thread(target=lambda: (source_handler(ctx)(str(tmp_path / "p.png")), done.set()))
    with ctx.canvas_lock:
        worker.start()
        assert not done.wait(1.0)  # waits for the canvas being made
    assert done.wait(30)
    worker.join()


def test_edit_model_steps_use_the_defaults_resolved_at_start_up(tmp_path):
    """The Edit tab's content-aware fill and background removal took the registry's offline defaults, also on a
    Space where Big-LaMa had been chosen at start-up for the Inpaint tab."""
    from models.catalog import default_registry
    from models.defaults import Choice, Defaults
    from models.registry import Task
    from ui.edit import apply_recipe

    registry = default_registry()
    chosen = {t: Choice(t, registry.default_for(t), "offline default") for t in Task}
    chosen[Task.INPAINT] = Choice(Task.INPAINT, registry.get("telea"), "picked for the test")
    chosen[Task.CUTOUT] = Choice(Task.CUTOUT, registry.get("grabcut"), "picked for the test")
    cache = ModelCache(device=torch.device("cpu"))
    asked: list[str] = []
    plain_get = cache.get
    cache.get = lambda model_id, **kw: (asked.append(model_id), plain_get(model_id, **kw))[1]
    ctx = AppContext(cache=cache, outdir=tmp_path, defaults=Defaults(registry, chosen))
    Image.new("RGB", (40, 30), (10, 200, 30)).save(tmp_path / "p.png")
    steps = [{"op": "fill", "rect": [5, 5, 10, 10], "content_aware": True}, {"op": "remove_background"}]
    apply_recipe(ctx, str(tmp_path / "p.png"), json.dumps({"version": 1, "steps": steps}))
    assert asked == ["telea", "grabcut"]


def test_the_vintage_filter_button_adds_a_step_that_the_cli_replays_identically(ctx, tmp_path):
    """The Edit tab's "GAN filter: vintage" button: a gan_filter step in the recipe, the picture restyled at its
    size with its transparency kept; the exported recipe through `cli.py edit` gives the same pixels."""
    import cli
    from ui.edit import EMPTY, STEPS, step_handler

    rgba = np.zeros((30, 44, 4), np.uint8)
    rgba[..., 0] = np.linspace(40, 220, 44, dtype=np.uint8)[None]
    rgba[..., 1] = np.linspace(200, 60, 30, dtype=np.uint8)[:, None]
    rgba[..., 2] = 120
    rgba[..., 3] = 255
    rgba[:8, :8, 3] = 0  # a transparent corner
    Image.fromarray(rgba, "RGBA").save(tmp_path / "p.png")
    [step] = [s for s in STEPS if s.op == "gan_filter"]
    result, text, recipe_file, _ = step_handler(ctx, step)(str(tmp_path / "p.png"), EMPTY)
    assert json.loads(text)["steps"] == [{"op": "gan_filter", "model": "cyclegan-vintage"}]
    got = np.asarray(Image.open(result).convert("RGBA"))
    assert got.shape == rgba.shape and np.array_equal(got[..., 3], rgba[..., 3])
    assert np.abs(got[8:, 8:, :3].astype(int) - rgba[8:, 8:, :3]).mean() > 3  # restyled
    out = tmp_path / "cli.png"
    assert cli.main(["edit", str(tmp_path / "p.png"), "-o", str(out), "--recipe", recipe_file]) == 0
    assert np.array_equal(np.asarray(Image.open(out).convert("RGBA")), got)


def test_a_recipe_shows_the_download_of_a_model_it_needs(tmp_path):
    """The Edit tab's Apply recipe (the API's /edit) loaded a model that was not downloaded yet without a
    word; the other tabs show such a download on their progress bar."""
    from ui.edit import edit_handler

    cache = ModelCache(device=torch.device("cpu"))
    plain_get = cache.get

    def get(model_id, progress=None, **kw):
        if progress is not None:
            progress(5_000_000, 20_000_000, "Ganvas inpaint (test)")
        return plain_get(model_id, **kw)

    cache.get = get
    ctx = AppContext(cache=cache, outdir=tmp_path)
    Image.new("RGB", (40, 30), (10, 200, 30)).save(tmp_path / "p.png")
    shown: list[tuple] = []
    recipe = json.dumps({"version": 1, "steps": [{"op": "fill", "rect": [5, 5, 10, 10], "content_aware": True}]})
    edit_handler(ctx)(
        str(tmp_path / "p.png"), recipe, progress=lambda amount, desc=None, **kw: shown.append((amount, desc))
    )
    assert shown and shown[0][0] == 0.25 and "Ganvas inpaint (test)" in shown[0][1] and "MB" in shown[0][1]


def test_painted_box_is_the_box_around_the_strokes(tmp_path):
    from ui.images import painted_box

    Image.new("RGB", (20, 10)).save(tmp_path / "bg.png")
    layer = np.zeros((10, 20, 4), np.uint8)
    editor = {"background": str(tmp_path / "bg.png"), "layers": [layer], "composite": None}
    assert painted_box(editor) is None and painted_box(None) is None
    layer[2:5, 3:9] = 255
    assert painted_box(editor) == [3, 2, 6, 3]


def test_an_automatic_cut_out_says_where_its_object_is_and_how_to_choose_another(ctx, tmp_path):
    """The model picks one subject; the note gives the box around what it kept (the result's own alpha), so a
    user whose photo has several subjects sees which one and is told how to give a box."""
    from ui.cutout import _found, run_cutout

    img = np.zeros((48, 64, 3), np.uint8)
    img[12:28, 30:50] = (240, 230, 40)  # a yellow block on black
    Image.fromarray(img).save(tmp_path / "block.png")
    path, note = run_cutout(ctx, str(tmp_path / "block.png"), "grabcut", "", False, 0, 0)
    alpha = np.asarray(Image.open(path))[..., 3] > 127
    ys, xs = np.nonzero(alpha)
    where = f"{xs.min()},{ys.min()},{xs.max() - xs.min() + 1},{ys.max() - ys.min() + 1}"
    assert f"the object at {where}. Not the one you meant? Give a box around it" in note
    _, boxed = run_cutout(ctx, str(tmp_path / "block.png"), "grabcut", "26,8,28,24", False, 0, 0)
    assert "inside the box 26,8,28,24" in boxed and "Not the one you meant" not in boxed
    nothing = _found(torch.zeros(10, 12, dtype=torch.bool))
    assert "nothing found to keep" in nothing and "click two opposite corners" in nothing
    block = torch.zeros(10, 12, dtype=torch.bool)
    block[2:5, 7:11] = True
    assert "at 7,2,4,3." in _found(block)
