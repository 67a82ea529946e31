"""The launched app through gradio_client: every endpoint with real images."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

from models.catalog import default_for
from models.registry import Task
from tests.conftest import launched_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from gradio_client import Client

    with launched_app() as url:
        yield Client(url, download_files=str(tmp_path_factory.mktemp("dl")), verbose=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    yy, xx = np.mgrid[0:48, 0:64]
    photo = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(photo).save(d / "photo.png")
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[4:12, 4:12] = (255, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(d / "sticker.png")
    mask = np.zeros((48, 64), np.uint8)
    mask[20:28, 30:40] = 255
    Image.fromarray(mask).save(d / "mask.png")
    return d


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_upscale_endpoint_bicubic_x2(client, images):
    from gradio_client import handle_file

    slider, result, note = client.predict(handle_file(str(images / "photo.png")), "bicubic", 2, 0, api_name="/upscale")
    out = _png(result)
    assert out.shape[:2] == (96, 128)
    assert "96" in note or "128" in note
    assert len(slider) == 2


def test_upscale_default_model_and_alpha(client, images):
    from gradio_client import handle_file

    _, result, _ = client.predict(handle_file(str(images / "sticker.png")), None, 2, 0, api_name="/upscale")
    out = _png(result)
    assert out.shape == (32, 32, 4)
    assert out[0, 0, 3] <= 2 and out[16, 16, 3] >= 253  # transparency kept (a learned model may round)


def test_upscale_endpoint_gives_an_animation_for_an_animation(client, tmp_path):
    from gradio_client import handle_file

    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 4, (6, 8, 3), dtype=np.uint8) * 80 for _ in range(3)]
    images = [Image.fromarray(f) for f in frames]
    images[0].save(tmp_path / "anim.gif", save_all=True, append_images=images[1:], duration=[100, 200, 300], loop=2)
    slider, result, note = client.predict(handle_file(str(tmp_path / "anim.gif")), "nearest", 2, 0, api_name="/upscale")
    assert "3 frames, 8x6 -> 16x12 (GIF" in note and len(slider) == 2
    with Image.open(result) as img:
        assert img.format == "GIF" and img.n_frames == 3 and img.size == (16, 12) and img.info["loop"] == 2
        for i, frame in enumerate(frames):
            img.seek(i)
            assert img.info["duration"] == 100 * (i + 1)
            assert np.array_equal(np.asarray(img.convert("RGB")), frame.repeat(2, 0).repeat(2, 1))


def test_upscale_hub_model_offline_is_a_plain_error(client, images):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(images / "photo.png")), "realesrgan-x2plus.hub", 2, 0, api_name="/upscale")
    assert "Hub" in str(err.value) or "download" in str(err.value).lower()


def test_inpaint_endpoint_keeps_outside_pixels(client, images):
    from gradio_client import handle_file

    photo = handle_file(str(images / "photo.png"))
    slider, result, notes = client.predict(
        photo, None, handle_file(str(images / "mask.png")), "telea", 0, 0, "crop", 32, api_name="/inpaint"
    )
    src, out = _png(images / "photo.png"), _png(result)[..., :3]
    mask = _png(images / "mask.png") > 0
    assert np.array_equal(out[~mask], src[~mask])
    assert np.abs(out[mask].astype(int) - src[mask].astype(int)).mean() < 40  # a smooth gradient is filled in


def test_inpaint_endpoint_keeps_16_bit_and_exif_of_the_photo(client, images):
    """The photo input is inpainted from its own file, not from the editor's 8-bit browser copy."""
    from gradio_client import handle_file

    yy, xx = np.mgrid[0:48, 0:64]
    deep = ((xx * 1000 + yy * 37) % 65536).astype(np.uint16)
    im = Image.fromarray(deep)
    exif = Image.Exif()
    exif[0x010F] = "GanvasCam"
    im.save(images / "deep.png", exif=exif.tobytes())
    editor = {"background": handle_file(str(images / "photo.png")), "layers": [], "composite": None}
    _, result, _ = client.predict(
        handle_file(str(images / "deep.png")),
        editor,
        handle_file(str(images / "mask.png")),
        "telea",
        0,
        0,
        "crop",
        32,
        api_name="/inpaint",
    )
    with Image.open(result) as out_im:
        assert out_im.mode in ("I;16", "I") and out_im.getexif().get(0x010F) == "GanvasCam"
        out = np.asarray(out_im).astype(np.int64)
    mask = _png(images / "mask.png") > 0
    assert np.array_equal(out[~mask], deep[~mask].astype(np.int64))  # every 16-bit value outside the hole


def test_inpaint_endpoint_without_photo_uses_the_editor(client, images):
    from gradio_client import handle_file

    editor = {"background": handle_file(str(images / "photo.png")), "layers": [], "composite": None}
    _, result, _ = client.predict(
        None, editor, handle_file(str(images / "mask.png")), "telea", 0, 0, "crop", 32, api_name="/inpaint"
    )
    mask = _png(images / "mask.png") > 0
    assert np.array_equal(_png(result)[..., :3][~mask], _png(images / "photo.png")[~mask])


def test_composite_endpoint_places_the_sticker(client, images):
    from gradio_client import handle_file

    result = client.predict(
        handle_file(str(images / "photo.png")),
        handle_file(str(images / "sticker.png")),
        None,
        10,
        5,
        1.0,
        0,
        1.0,
        0,
        "normal",
        "alpha",
        None,
        0.6,
        None,
        0.4,
        0,
        api_name="/composite",
    )
    out = _png(result)
    assert out.shape[:2] == (48, 64)
    assert tuple(out[5 + 8, 10 + 8, :3]) == (255, 0, 0)  # sticker centre
    assert tuple(out[0, 0, :3]) == tuple(_png(images / "photo.png")[0, 0])  # background untouched


def test_composite_endpoint_names_an_emptied_number_field(client, images):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    bg, fg = handle_file(str(images / "photo.png")), handle_file(str(images / "sticker.png"))
    rest = [1.0, 0, 1.0, 0, "normal", "alpha", None, 0.6, None, 0.4, 0]  # scale ... softness
    with pytest.raises(AppError, match="The x field is empty"):
        client.predict(bg, fg, None, None, 5, *rest, api_name="/composite")


def test_edit_endpoint_replays_a_recipe(client, images):
    from gradio_client import handle_file

    recipe = json.dumps(
        {"version": 1, "steps": [{"op": "rotate", "angle": 90}, {"op": "flip", "direction": "horizontal"}]}
    )
    result, text, rfile, _ = client.predict(handle_file(str(images / "photo.png")), recipe, api_name="/edit")
    out = _png(result)[..., :3]
    src = _png(images / "photo.png")
    assert out.shape[:2] == (64, 48)
    assert np.array_equal(out, np.fliplr(np.rot90(src)))
    assert json.loads(text)["steps"][0]["op"] == "rotate"


def test_edit_bad_recipe_is_a_plain_error(client, images):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError):
        client.predict(
            handle_file(str(images / "photo.png")), '{"version": 1, "steps": [{"op": "explode"}]}', api_name="/edit"
        )


@pytest.mark.skipif(default_for(Task.GENERATE) is None, reason="no generator registered yet")
def test_generate_endpoint_is_reproducible(client):
    spec = default_for(Task.GENERATE)
    a, sel_a = client.predict(spec.id, spec.labels[0] if spec.labels else None, 7, 3, 1.0, api_name="/generate")
    b, _ = client.predict(spec.id, spec.labels[0] if spec.labels else None, 7, 3, 1.0, api_name="/generate")
    assert len(a) == 3
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(_png(x["image"]), _png(y["image"]))
    assert _png(a[0]["image"]).shape[:2] == (spec.output_size, spec.output_size)
    assert not np.array_equal(_png(a[0]["image"]), _png(a[1]["image"]))


@pytest.mark.skipif(default_for(Task.GENERATE) is None, reason="no generator registered yet")
def test_generate_endpoint_takes_a_label_index_and_names_a_wrong_label(client):
    """API callers are not limited to the dropdown's choices of the default model (BigGAN has other labels)."""
    from gradio_client.exceptions import AppError

    spec = default_for(Task.GENERATE)
    if len(spec.labels) < 2:
        pytest.skip("needs a generator with labels")
    by_name, _ = client.predict(spec.id, spec.labels[1], 3, 1, 1.0, api_name="/generate")
    by_index, _ = client.predict(spec.id, "1", 3, 1, 1.0, api_name="/generate")
    assert np.array_equal(_png(by_name[0]["image"]), _png(by_index[0]["image"]))
    with pytest.raises(AppError, match="has no label 'goldfish'"):
        client.predict(spec.id, "goldfish", 3, 1, 1.0, api_name="/generate")


@pytest.mark.skipif(default_for(Task.GENERATE) is None, reason="no generator registered yet")
def test_interpolate_endpoint_writes_an_animation(client):
    spec = default_for(Task.GENERATE)
    lab = spec.labels[0] if spec.labels else None
    path = client.predict(spec.id, lab, lab, 1, 2, 4, 1.0, api_name="/interpolate")
    with Image.open(path) as im:
        assert getattr(im, "n_frames", 1) >= 4


def test_the_readme_api_example_runs(client, images, monkeypatch):
    """The README's gradio_client block, as written, against the launched app (files from the test's folder)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = text.split("<!-- api:begin -->", 1)[1].split("<!-- api:end -->", 1)[0]
    code = block.split("```python", 1)[1].split("```", 1)[0]
    assert 'Client("http://127.0.0.1:7860/")' in code
    monkeypatch.chdir(images)
    scope: dict = {}
    exec(compile(code.replace("http://127.0.0.1:7860/", client.src), "README.md", "exec"), scope)  # noqa: S102
    assert len(scope["gallery"]) == 4 and _png(scope["first"]).shape == (64, 64, 4)
    assert _png(scope["big"]).shape[:2] == (48 * 4, 64 * 4)
    src, out = _png(images / "photo.png"), _png(scope["filled"])[..., :3]
    far = np.ones(src.shape[:2], bool)
    far[20 - 5 : 28 + 5, 30 - 5 : 40 + 5] = False  # the mask's box grown by the example's 4 px, and a pixel
    assert np.array_equal(out[far], src[far]) and not np.array_equal(out, src)
    straight = _png(scope["straight"])
    assert straight.shape[1] > 64 and straight[..., 3].min() == 255  # turned, corners filled


def test_responses_carry_the_security_headers(client):
    """No X-Content-Type-Options, Content-Security-Policy or Referrer-Policy before (issue 32); no X-Frame-Options
    either, on purpose: a Space frames the app."""
    import urllib.request

    for path in ("", "gradio_api/info", "config"):
        with urllib.request.urlopen(client.src.rstrip("/") + "/" + path, timeout=30) as resp:
            assert resp.status == 200
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
            assert "frame-ancestors 'self' https://huggingface.co" in resp.headers["Content-Security-Policy"]
            assert "X-Frame-Options" not in resp.headers


def test_cutout_endpoint_box_mask_and_a_bad_box(client, images):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    photo = handle_file(str(images / "photo.png"))
    result, note = client.predict(photo, "grabcut", "16,8,32,32", False, 0, 0, api_name="/cutout")
    out = _png(result)
    assert out.shape == (48, 64, 4) and "GrabCut" in note
    assert out[:8, :, 3].max() == 0 and out[:, :16, 3].max() == 0  # nothing kept outside the box
    result, _ = client.predict(photo, "grabcut", "", True, 0, 0, api_name="/cutout")
    matte = _png(result)
    assert matte.shape[:2] == (48, 64) and (matte.ndim == 2 or (matte[..., 0] == matte[..., 1]).all())
    with pytest.raises(AppError, match="lies outside the 64x48 image"):
        client.predict(photo, "grabcut", "100,100,5,5", False, 0, 0, api_name="/cutout")


def _mcp_tools(url: str) -> dict[str, str]:
    """{tool name: description} as an MCP client lists them from the app's MCP server."""
    import asyncio

    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def listing():
        async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
            await session.initialize()
            return {tool.name: tool.description or "" for tool in (await session.list_tools()).tools}

    return asyncio.run(listing())


def test_mcp_server_follows_the_extra(monkeypatch):
    import app

    monkeypatch.delenv("GRADIO_MCP_SERVER", raising=False)
    monkeypatch.setattr(app, "mcp_available", lambda: False)
    assert app.launch_options()["mcp_server"] is False
    monkeypatch.setattr(app, "mcp_available", lambda: True)
    assert app.launch_options()["mcp_server"] is True
    monkeypatch.setenv("GRADIO_MCP_SERVER", "false")
    assert app.launch_options()["mcp_server"] is None  # Gradio reads the variable itself


@pytest.mark.skipif(
    importlib.util.find_spec("mcp") is None,
    reason="gradio[mcp] is not installed (pip install 'gradio[mcp]', as requirements-dev.txt does): "
    "the app then launches without its MCP server",
)
def test_assistants_get_every_tab_as_an_mcp_tool(client):
    """Each tab's endpoint is a tool, described by its handler's docstring."""
    tools = _mcp_tools(client.src.rstrip("/") + "/gradio_api/mcp/")
    expected = {"on_generate", "on_variations", "on_interpolate", "on_composite", "on_edit", "on_inpaint"}
    assert expected | {"on_upscale"} <= set(tools), sorted(tools)
    assert all(description.strip() for description in tools.values()), tools
    assert tools["on_upscale"].startswith("Upscale an image by any factor from 1 to 8")


def test_select_object_puts_the_object_mask_on_the_canvas(client, tmp_path):
    """Inpaint's Select object: a stroke across a red disc becomes the disc's mask on the editor's layer."""
    from gradio_client import handle_file

    yy, xx = np.mgrid[0:96, 0:128]
    disc = (yy - 48) ** 2 + (xx - 80) ** 2 < 20**2
    photo = np.stack([xx + 60, xx + 60, xx + 60], -1)
    photo[disc] = (220, 30, 30)
    Image.fromarray(photo.astype(np.uint8)).save(tmp_path / "disc.png")
    stroke = np.zeros((96, 128, 4), np.uint8)
    stroke[44:52, 66:94] = 255  # across the disc, short of its edges
    Image.fromarray(stroke, "RGBA").save(tmp_path / "stroke.png")
    src = handle_file(str(tmp_path / "disc.png"))
    editor = {"background": src, "layers": [handle_file(str(tmp_path / "stroke.png"))], "composite": None}
    value, note = client.predict(src, editor, api_name="/select_object")
    layer = _png(value["layers"][0])
    assert layer.shape == (96, 128, 4) and "Selected" in note
    mask = layer[..., 3] > 0
    iou = (mask & disc).sum() / (mask | disc).sum()
    assert iou > 0.7, iou  # the disc, grown by a few pixels: not the stroke, not the whole photo
    assert not mask[:, :40].any()  # nothing outside the box around the stroke
