"""The app's bounds: uploads judged from their header before the queue, and pixel work one job per group."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio.data_classes import ImageData as Payload
from PIL import Image

from app import build_demo
from ui.common import MODEL, PIXELS
from ui.inputs import image_input


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


def test_the_upload_check_is_unqueued():
    with gr.Blocks() as demo:
        image_input("Photo")
    (fn,) = demo.fns.values()
    assert fn.queue is False


def test_pixel_work_runs_in_the_two_groups():
    """Every public endpoint, and every composite redraw, is in the model or the pixel group: at most two jobs
    work at once, each within the peak bench_memory measures."""
    demo = build_demo()
    public = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name and fn.api_visibility == "public"}
    assert {"generate", "composite", "edit", "inpaint", "upscale"} <= set(public)
    assert {fn.concurrency_id for fn in public.values()} <= {MODEL, PIXELS}
    redraws = [fn for fn in demo.fns.values() if fn.name == "redraw"]
    assert redraws and all(fn.concurrency_id == PIXELS for fn in redraws)
