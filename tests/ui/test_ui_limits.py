"""The app's bounds: uploads judged from their header before the queue, and pixel work one job per group."""

from __future__ import annotations

import asyncio
import io
import tempfile
from pathlib import Path

import gradio as gr
import pytest
from gradio.components.image_editor import EditorData
from gradio.data_classes import FileData
from gradio.data_classes import ImageData as Payload
from PIL import Image

from app import build_demo
from ui.common import MODEL, PIXELS
from ui.inputs import guard_payloads, image_input, paint_editor


def _upload(path, name="holiday.png") -> Payload:
    return Payload(path=str(path), orig_name=name)


def _field():
    with gr.Blocks():
        return image_input("Photo")


def test_an_upload_over_the_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    big = tmp_path / "gradio-temp-1234.png"
    Image.new("L", (300, 200)).save(big)
    field = _field()
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "50000")
    with pytest.raises(gr.Error) as err:
        field.preprocess(_upload(big))
    text = str(err.value)
    assert "holiday.png" in text and "300x200" in text and "GANVAS_MAX_PIXELS" in text
    assert "gradio-temp" not in text and str(tmp_path) not in text  # no server path
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "60000")
    assert field.preprocess(_upload(big)) == str(big)


def test_a_file_that_is_no_image_is_named_as_uploaded(tmp_path):
    svg = tmp_path / "upload-5678.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
    with pytest.raises(gr.Error) as err:
        _field().preprocess(_upload(svg, "drawing.svg"))
    assert "drawing.svg" in str(err.value) and "upload-5678" not in str(err.value)


def test_the_upload_check_waits_behind_no_pixel_work():
    with gr.Blocks() as demo:
        image_input("Photo")
    (fn,) = demo.fns.values()
    assert fn.concurrency_id not in (MODEL, PIXELS)


def test_pixel_work_runs_in_the_two_groups():
    """Every public endpoint, and every composite redraw, is in the model or the pixel group: at most two jobs
    work at once, each within the peak bench_memory measures."""
    demo = build_demo()
    public = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name and fn.api_visibility == "public"}
    assert {"generate", "composite", "edit", "inpaint", "upscale"} <= set(public)
    assert {fn.concurrency_id for fn in public.values()} <= {MODEL, PIXELS}
    redraws = [fn for fn in demo.fns.values() if fn.name == "redraw"]
    assert redraws and all(fn.concurrency_id == PIXELS for fn in redraws)


BAD_NUMBERS = [float("nan"), float("inf"), -float("inf"), "abc", "", True, 1e300, [1]]


def test_every_number_of_every_endpoint_refuses_what_is_not_a_number_in_its_range():
    """/composite with x = NaN, /inpaint with grow = NaN, /generate with seed 'abc': raw exceptions or no
    message through the API; each field now says its name and range."""
    demo = build_demo()
    fields = [b for b in demo.blocks.values() if isinstance(b, (gr.Number, gr.Slider))]
    assert len(fields) > 30
    for field in fields:
        for bad in BAD_NUMBERS:
            if bad == "" and isinstance(field, gr.Number):
                continue  # an empty number field is None: the handler says what is missing
            with pytest.raises(gr.Error) as err:
                field.preprocess(bad)
            assert field.label in str(err.value), (field.label, bad)
        if field.minimum is not None:
            with pytest.raises(gr.Error, match="must be"):
                field.preprocess(field.minimum - 1)
        assert field.preprocess(field.value) == field.value


def test_a_fractional_seed_is_refused_not_rounded():
    demo = build_demo()
    (seed,) = [b for b in demo.blocks.values() if isinstance(b, gr.Number) and b.label == "Seed"]
    with pytest.raises(gr.Error, match="Seed must be a whole number from 0 to 4294967295 \\(got 1.5\\)"):
        seed.preprocess(1.5)
    assert seed.preprocess(7.0) == 7 and isinstance(seed.preprocess(7.0), int)


def test_a_long_value_is_quoted_short():
    from core.errors import quoted

    text = quoted("x" * 100_000)
    assert len(text) < 100 and "100,002 characters" in text


def test_an_editor_layer_of_another_size_is_fitted_and_a_text_layer_refused(tmp_path):
    """/inpaint with a 300x400 layer on a 120x160 photo broke on numpy broadcasting; a text file as the layer
    raised PIL's UnidentifiedImageError."""
    import numpy as np

    from core.errors import InvalidInputError
    from ui.images import editor_parts

    photo = tmp_path / "photo.png"
    Image.new("RGB", (120, 160), "gray").save(photo)
    layer = np.zeros((400, 300, 4), np.uint8)
    layer[:200, :150, 3] = 255  # the top-left quarter painted
    big = tmp_path / "layer.png"
    Image.fromarray(layer).save(big)
    image, painted = editor_parts({"background": str(photo), "layers": [str(big), layer], "composite": None})
    assert painted.shape == (160, 120)
    assert painted[:80, :60].min() == 255 and painted[80:, :].max() == 0 and painted[:, 60:].max() == 0
    text = tmp_path / "layer2.png"
    text.write_text("not a picture")
    with pytest.raises(InvalidInputError, match="painted layer is not an image"):
        editor_parts({"background": str(photo), "layers": [str(text)], "composite": None})


def _editor():
    with gr.Blocks() as demo:
        editor = paint_editor("Paint over what should go", "Mask", "#ffffff", 300, "e")
        editor.change(lambda value: None, [editor], None)
    return demo, editor


def _editor_value(background, layer=None) -> EditorData:
    files = [FileData(path=str(layer), orig_name="layer.png")] if layer else []
    return EditorData(background=FileData(path=str(background), orig_name="photo.png"), layers=files)


def test_an_editor_picture_over_the_limit_is_refused_before_gradio_decodes_it(tmp_path, monkeypatch):
    """The editor decodes every picture it is sent in full before any handler runs: a layer of 100000x100000 in
    a 100 KB PNG took the API's process past 20 GB. Each picture's header is checked first."""
    Image.new("RGB", (40, 30)).save(tmp_path / "photo.png")
    Image.new("RGBA", (300, 200)).save(tmp_path / "layer.png")
    _, editor = _editor()
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "50000")
    with pytest.raises(gr.Error, match="The painted layer: 300x200 \\(0.06 MP\\) is more than the 0.05 MP"):
        editor.preprocess(_editor_value(tmp_path / "photo.png", tmp_path / "layer.png"))
    monkeypatch.setenv("GANVAS_MAX_PIXELS", "60000")
    assert editor.preprocess(_editor_value(tmp_path / "photo.png", tmp_path / "layer.png"))["layers"][0].shape == (
        200,
        300,
        4,
    )


def test_editor_pictures_are_found_whole_and_read_when_only_their_text_is_too_large(tmp_path):
    """A background holding 3 of its rows decoded black below them; one with a large zTXt chunk failed in
    Gradio (an exception the API reported as none of ours)."""
    from tests import odd_inputs

    (tmp_path / "rows.png").write_bytes(odd_inputs.png_with_rows(300, 200, 3))
    (tmp_path / "notes.png").write_bytes(odd_inputs.png_with_large_text())
    _, editor = _editor()
    with pytest.raises(gr.Error, match="The picture in the editor is truncated: it holds only part of the 300x200"):
        editor.preprocess(_editor_value(tmp_path / "rows.png"))
    value = editor.preprocess(_editor_value(tmp_path / "notes.png"))
    assert value["background"].shape == (24, 32, 4) and value["layers"] is None


def test_an_upload_with_a_large_text_chunk_is_handed_on():
    """image_input opened every upload with PIL first, which refused this file as no image."""
    from tests import odd_inputs

    path = Path(tempfile.mkdtemp()) / "upload.png"
    path.write_bytes(odd_inputs.png_with_large_text())
    assert _field().preprocess(_upload(path, "notes.png")) == str(path)


def test_a_value_of_the_wrong_form_is_refused_naming_its_input():
    """Text where the editor takes its pictures, or a layer that is no file, failed in Gradio's validation, and
    the API answered 'The upstream Gradio app has raised an exception but has not enabled verbose error
    reporting'."""
    demo, _ = _editor()
    guard_payloads(demo)
    (fn,) = demo.fns.values()
    for value in ("a photo, please", [1, 2], {"background": None, "layers": [None]}, {"layers": "paint"}):
        with pytest.raises(gr.Error) as err:
            asyncio.run(demo.preprocess_data(fn, [value], None))
        assert err.value.message.startswith("“Paint over what should go” got a value it cannot take")


def test_a_choice_outside_the_list_is_refused_quoted_short():
    """Gradio's own message quoted the value whole ('Value: xxx... is not in the list of choices', 100,000
    characters back for a 100,000-character model id)."""
    demo = build_demo()
    pickers = [b for b in demo.blocks.values() if isinstance(b, (gr.Dropdown, gr.Radio)) and b.label == "Model"]
    assert pickers
    for picker in pickers:
        with pytest.raises(gr.Error) as err:
            picker.preprocess("x" * 100_000)
        text = err.value.message
        assert text.startswith("Model must be one of: ") and "100,002 characters" in text and len(text) < 400
        first = picker.choices[0][1]
        assert picker.preprocess(first) == first


def test_editor_pictures_the_browser_sends_as_bytes_are_checked_and_read_alike(tmp_path):
    """The browser sends the editor's pictures as bytes, kept by the value's id: the same checks apply."""
    from gradio.components.image_editor import EditorDataBlobs

    from tests import odd_inputs

    photo = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(photo, "PNG")
    layer = io.BytesIO()
    Image.new("RGBA", (40, 30)).save(layer, "PNG")
    _, editor = _editor()
    for background in (photo.getvalue(), odd_inputs.png_with_large_text()):  # Gradio reads one, Ganvas the other
        editor.blob_storage["v"] = EditorDataBlobs(background=background, layers=[layer.getvalue()], composite=None)
        value = editor.preprocess(EditorData(id="v"))
        assert value["background"].shape[2] == 4 and value["layers"][0].shape == (30, 40, 4)
        assert "v" not in editor.blob_storage
    editor.blob_storage["v"] = EditorDataBlobs(
        background=odd_inputs.gray_png_bomb(10_000, 10_000), layers=[], composite=None
    )
    with pytest.raises(gr.Error, match="The picture in the editor: 10000x10000"):
        editor.preprocess(EditorData(id="v"))


@pytest.fixture()
def ctx(tmp_path):
    import torch

    from models.runtime import ModelCache
    from ui.context import AppContext

    return AppContext(cache=ModelCache(device=torch.device("cpu")), outdir=tmp_path)


def test_an_empty_recipe_is_the_message_the_cli_gives(ctx, tmp_path):
    """/edit took an empty recipe as one with no steps, the CLI as 'not valid JSON': one message for both. The
    step buttons still start a recipe from an empty box."""
    from core.errors import InvalidInputError
    from ui.edit import apply_recipe, parse_recipe

    Image.new("RGB", (6, 5), "gray").save(tmp_path / "photo.png")
    for text in ("", " \n", None):
        with pytest.raises(InvalidInputError, match="^The recipe is empty: a recipe is a JSON object"):
            apply_recipe(ctx, str(tmp_path / "photo.png"), text)
    assert parse_recipe("").steps == []
    out, _, _ = apply_recipe(ctx, str(tmp_path / "photo.png"), '{"version": 1, "steps": []}')
    assert Image.open(out).size == (6, 5)


def test_a_depth_map_of_another_size_is_resized_with_a_warning(ctx, tmp_path):
    """It was refused ('they must be the same size') while a mask of another size was resized."""
    import warnings

    from ui.composite import run_composite

    Image.new("RGB", (40, 30), "gray").save(tmp_path / "bg.png")
    Image.new("RGBA", (8, 8), "red").save(tmp_path / "fg.png")
    Image.new("L", (4, 3), 200).save(tmp_path / "depth.png")
    bg, fg, depth = (str(tmp_path / name) for name in ("bg.png", "fg.png", "depth.png"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run_composite(ctx, bg, fg, mode="depth", bg_depth_file=depth)
    assert Image.open(out).size == (40, 30)
    assert any("The background depth map was 4x3 and the background 40x30" in str(w.message) for w in caught)
