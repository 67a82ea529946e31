"""The bad-input suite: every public endpoint of the launched app (through gradio_client) and every CLI command
(through ``cli.main``, in process) on a corpus of odd inputs generated in a temporary folder (tests/odd_inputs.py).

Each call must give a result, or refuse in our words: the API with an AppError, the CLI with exit code 2 and one
``error:`` line; no Python exception class, ``Errno``, traceback, server temporary path or generic "something
went wrong" (an unexpected exception the app only caught), and a message a person can read (under 400
characters). Every misbehaving case is collected, so one run lists them all.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cli
from tests import odd_inputs
from tests.conftest import launched_app

pytestmark = pytest.mark.slow

#: what a message must not hold: a library's or Python's words, or a place on the server
LEAKS = re.compile(
    r"Traceback|Errno|\b[A-Z]\w*(Error|Exception|Warning)\b|site-packages|Something went wrong|"
    r"upstream Gradio app|cannot identify image file|MAX_TEXT_CHUNK|\bnan\b.*integer"
)
MAX_MESSAGE = 400
#: the CLI's one line: its own errors, and the argument parser's ("cli.py upscale: error: argument --scale: ...")
ERROR_LINE = re.compile(r"^(cli\.py( \w+)?: )?error: ")


@pytest.fixture(scope="session")
def odd(tmp_path_factory) -> dict[str, Path]:
    """The odd files, and a photo, a sticker and a mask that work, all written once for the session."""
    folder = tmp_path_factory.mktemp("odd")
    files = odd_inputs.odd_files(folder)
    files["16bit-colour.png"] = odd_inputs.write_16bit_colour(folder / "16bit-colour.png")
    good = tmp_path_factory.mktemp("good")
    Image.fromarray(odd_inputs.photo_array()).save(good / "photo.png")
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[4:12, 4:12] = (255, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(good / "sticker.png")
    mask = np.zeros((48, 64), np.uint8)
    mask[20:28, 30:40] = 255
    Image.fromarray(mask).save(good / "mask.png")
    layer = np.zeros((48, 64, 4), np.uint8)
    layer[20:28, 30:40] = 255
    Image.fromarray(layer, "RGBA").save(good / "layer.png")
    recipe = good / "recipe.json"
    recipe.write_text(json.dumps({"version": 1, "steps": [{"op": "rotate", "angle": 90}]}))
    return {
        **{f"odd/{k}": v for k, v in files.items()},
        "photo": good / "photo.png",
        "sticker": good / "sticker.png",
        "mask": good / "mask.png",
        "layer": good / "layer.png",
        "recipe": recipe,
    }


def _odd_files(odd: dict[str, Path]) -> dict[str, Path]:
    return {k.removeprefix("odd/"): v for k, v in odd.items() if k.startswith("odd/")}


def _message_fault(message: str, allowed_paths: tuple[str, ...] = ()) -> str | None:
    """What is wrong with a refusal's message, or None when it is one plain sentence of ours."""
    if not message or not message.strip():
        return "no message"
    if len(message) > MAX_MESSAGE:
        return f"{len(message)} characters"
    if "\n" in message.strip():
        return "several lines"
    found = LEAKS.search(message)
    if found:
        return f"library words {found.group(0)!r}"
    text = message
    for path in allowed_paths:
        text = text.replace(path, "")
    if tempfile.gettempdir() in text:
        return "a server path"
    return None


def _verdict(bad: list[str], seen: Counter, what: str, results: int, refusals: int) -> None:
    """No misbehaviour; and at least ``results`` results and ``refusals`` refusals, so that a harness that
    answers everything alike (a broken fixture refusing every file) cannot pass."""
    total = sum(seen.values())
    assert not bad, f"{len(bad)} of {total} {what} misbehaved:\n" + "\n".join(bad)
    assert seen["result"] >= results and seen["refused"] >= refusals, dict(seen)
    print(f"{total} {what}: {seen['result']} results, {seen['refused']} refused in our words")


# ------------------------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from gradio_client import Client

    with launched_app() as url:
        yield Client(url, download_files=str(tmp_path_factory.mktemp("dl")), verbose=False)


def _ask(client, bad: list[str], case: str, *args, api_name: str) -> str:
    """One call: "result", "refused" (in our words) or "bad" (the misbehaviour added to ``bad``). Arguments
    that JSON cannot hold (NaN, infinity) go in a request of our own: gradio_client refuses to send them, and
    the HTTP API takes them all the same."""
    from gradio_client.exceptions import AppError

    if any(isinstance(a, float) and not math.isfinite(a) for a in args):
        message = _ask_raw(client, api_name, args)
    else:
        try:
            client.predict(*args, api_name=api_name)
            message = None
        except AppError as exc:
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - anything but a result or an AppError is the failure looked for
            bad.append(f"{api_name} {case}: {type(exc).__name__}: {str(exc)[:300]}")
            return "bad"
    if message is None:
        return "result"
    fault = _message_fault(message)
    if fault:
        bad.append(f"{api_name} {case}: {fault}: {message[:300]!r}")
        return "bad"
    return "refused"


def _ask_raw(client, api_name: str, args: tuple) -> str | None:
    """Call ``api_name`` over plain HTTP (files uploaded first); the error message, or None for a result."""
    import httpx

    base = client.src.rstrip("/") + "/gradio_api"
    data = []
    for arg in args:
        if isinstance(arg, dict) and arg.get("meta", {}).get("_type") == "gradio.FileData":
            with open(arg["path"], "rb") as fh:
                (path,) = httpx.post(f"{base}/upload", files=[("files", fh)], timeout=60).json()
            arg = {**arg, "path": path}
        data.append(arg)
    body = json.dumps({"data": data})  # NaN and Infinity as Python writes them, which the server reads
    event = httpx.post(f"{base}/call{api_name}", content=body, headers={"Content-Type": "application/json"})
    stream = httpx.get(f"{base}/call{api_name}/{event.json()['event_id']}", timeout=120).text
    if "event: complete" in stream:
        return None
    payload = stream.split("data:", 1)[1].strip() if "data:" in stream else "null"
    answer = json.loads(payload)
    return (answer or {}).get("error") or "" if isinstance(answer, (dict, type(None))) else str(answer)


def _image_targets(odd: dict[str, Path]) -> dict[str, Callable[[object], tuple[tuple, str]]]:
    """Each image input of each endpoint, as (arguments with the odd file in that place, endpoint)."""
    from gradio_client import handle_file

    photo, sticker, mask, layer = (handle_file(str(odd[k])) for k in ("photo", "sticker", "mask", "layer"))
    recipe = odd["recipe"].read_text()
    place = (10, 5, 1.0, 0, 1.0, 0, "normal")
    depth = (None, 0.6, None, 0.4, 0)
    inpaint = ("telea", 0, 0, "crop", 32)

    def editor(background, layer):
        return {"background": background, "layers": [layer], "composite": None}

    return {
        "upscale": lambda f: ((f, "nearest", 2, 0), "/upscale"),
        "inpaint photo": lambda f: ((f, None, mask, *inpaint), "/inpaint"),
        "inpaint mask": lambda f: ((photo, None, f, *inpaint), "/inpaint"),
        "inpaint editor": lambda f: ((None, editor(f, layer), None, *inpaint), "/inpaint"),
        "inpaint layer": lambda f: ((None, editor(photo, f), None, *inpaint), "/inpaint"),
        "composite background": lambda f: ((f, sticker, None, *place, "alpha", *depth), "/composite"),
        "composite foreground": lambda f: ((photo, f, None, *place, "alpha", *depth), "/composite"),
        "composite mask": lambda f: ((photo, sticker, f, *place, "alpha", *depth), "/composite"),
        "composite depth map": lambda f: ((photo, sticker, None, *place, "depth", f, 0.6, None, 0.4, 0), "/composite"),
        "edit": lambda f: ((f, recipe), "/edit"),
        "cutout": lambda f: ((f, "grabcut", "", False, 0, 0), "/cutout"),
        "select object photo": lambda f: ((f, None), "/select_object"),
        "select object layer": lambda f: ((photo, editor(photo, f)), "/select_object"),
    }


def test_every_image_input_of_every_endpoint_answers_every_odd_file(client, odd):
    from gradio_client import handle_file

    bad: list[str] = []
    seen: Counter[str] = Counter()
    targets = _image_targets(odd)
    files = _odd_files(odd)
    for name, path in files.items():
        for where, call in targets.items():
            args, api = call(handle_file(str(path)))
            seen[_ask(client, bad, f"{where} <- {name}", *args, api_name=api)] += 1
    _verdict(bad, seen, "calls", results=100, refusals=100)


def _number_cases(odd: dict[str, Path]) -> list[tuple[str, str, tuple]]:
    """(endpoint, case, arguments) with each number, choice and model field in turn given an odd value."""
    from gradio_client import handle_file

    photo, sticker, mask = (handle_file(str(odd[k])) for k in ("photo", "sticker", "mask"))
    good = {
        "/upscale": (photo, "nearest", 2, 0),
        "/inpaint": (photo, None, mask, "telea", 0, 0, "crop", 32),
        "/composite": (photo, sticker, None, 10, 5, 1.0, 0, 1.0, 0, "normal", "alpha", None, 0.6, None, 0.4, 0),
        "/generate": (None, None, 7, 2, 1.0),
        "/variations": (None, None, 7, 2, 0.3, 1.0),
        "/interpolate": (None, None, None, 1, 2, 4, 1.0),
        "/cutout": (photo, "grabcut", "", False, 0, 0),
    }
    #: the places of number fields, and of text fields (models, labels, choices) per endpoint
    numbers = {
        "/upscale": (2, 3),
        "/inpaint": (4, 5, 7),
        "/composite": (3, 4, 5, 6, 7, 8, 12, 14, 15),
        "/generate": (2, 3, 4),
        "/variations": (2, 3, 4, 5),
        "/interpolate": (3, 4, 5, 6),
        "/cutout": (4, 5),
    }
    texts = {
        "/upscale": (1,),
        "/inpaint": (3, 6),
        "/composite": (9, 10),
        "/generate": (0, 1),
        "/variations": (0, 1),
        "/interpolate": (0, 1, 2),
        "/cutout": (1, 2),
    }
    odd_texts = ("no-such-thing", "x" * 100_000, "../../etc/passwd", "telea", "-1", "999999", "<script>", "1,2,3")
    odd_texts += ("-5,-5,10,10", "0,0,99999,99999", "nan,0,1,1")
    cases = []
    for api, args in good.items():
        cases.append((api, "as given", args))
        for i in numbers[api]:
            for value in odd_inputs.ODD_NUMBERS:
                cases.append((api, f"argument {i} = {value!r}"[:60], (*args[:i], value, *args[i + 1 :])))
        for i in texts[api]:
            for value in odd_texts:
                cases.append((api, f"argument {i} = {value!r}"[:60], (*args[:i], value, *args[i + 1 :])))
    # the composite's extremes: a layer scaled and turned past the canvas, or far away
    comp = good["/composite"]
    for x, scale, rotate in ((10**9, 1, 0), (-(10**9), 8, 30), (0, 8, 45), (5, 0.05, 179.5)):
        cases.append(
            ("/composite", f"x={x} scale={scale} rotate={rotate}", (*comp[:3], x, 5, scale, rotate, *comp[7:]))
        )
    return cases


def test_every_parameter_of_every_endpoint_answers_odd_values(client, odd):
    bad: list[str] = []
    seen: Counter[str] = Counter()
    cases = _number_cases(odd)
    for api, case, args in cases:
        seen[_ask(client, bad, case, *args, api_name=api)] += 1
    endpoints = {api for api, _, _ in cases}
    _verdict(bad, seen, "calls", results=len(endpoints), refusals=200)  # each endpoint as given: a result


def test_edit_answers_every_hostile_recipe(client, odd):
    from gradio_client import handle_file

    bad: list[str] = []
    seen: Counter[str] = Counter()
    recipes = {**odd_inputs.HOSTILE_RECIPES, **odd_inputs.mask_recipes()}
    for name, text in recipes.items():
        seen[_ask(client, bad, f"recipe {name}", handle_file(str(odd["photo"])), text, api_name="/edit")] += 1
    _verdict(bad, seen, "recipes", results=0, refusals=20)


def _editor_values(odd: dict[str, Path]) -> dict[str, object]:
    from gradio_client import handle_file

    photo, text = handle_file(str(odd["photo"])), handle_file(str(odd["odd/text.png"]))
    wide = handle_file(str(odd["odd/wide.png"]))
    return {
        "text": "a photo, please",
        "list": [photo],
        "no background": {"background": None, "layers": [photo], "composite": None},
        "layers text": {"background": photo, "layers": "paint", "composite": None},
        "layers none": {"background": photo, "layers": [None], "composite": None},
        "no layers": {"background": photo, "composite": None},
        "layer text file": {"background": photo, "layers": [text], "composite": None},
        "layer of another size": {"background": photo, "layers": [wide], "composite": None},
        "composite only": {"background": None, "layers": [], "composite": photo},
        "empty": {},
    }


def test_inpaint_answers_every_odd_editor_value(client, odd):
    bad: list[str] = []
    seen: Counter[str] = Counter()
    values = _editor_values(odd)
    for name, value in values.items():
        args = (None, value, None, "telea", 0, 0, "crop", 32)
        seen[_ask(client, bad, f"editor {name}", *args, api_name="/inpaint")] += 1
    _verdict(bad, seen, "editor values", results=0, refusals=len(values))


def test_the_suite_covers_every_public_endpoint_and_every_command(odd):
    """A new endpoint or command joins the suite: one that it leaves out fails here."""
    import argparse

    from app import build_demo

    public = {f"/{fn.api_name}" for fn in build_demo().fns.values() if fn.api_name and fn.api_visibility == "public"}
    covered = {api for api, _, _ in _number_cases(odd)} | {call(None)[1] for call in _image_targets(odd).values()}
    assert public == covered, f"not in the suite: {sorted(public - covered)}"
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) == {"upscale", "inpaint", "composite", "edit", "cutout", "generate", "models"}, set(commands)


# ------------------------------------------------------------------------------------------- the CLI


def _run(argv: list[str], capfd, bad: list[str], case: str) -> str:
    """``cli.main(argv)``: "result", "refused" (one line, exit code 2, in our words) or "bad" (the misbehaviour
    added to ``bad``). Paths the caller gave may appear in messages."""
    try:
        rc = cli.main(argv)
    except SystemExit as exc:  # argparse's refusals: one line and exit code 2 as well
        rc = exc.code
    except BaseException as exc:  # noqa: BLE001 - any escape is the failure looked for
        capfd.readouterr()
        bad.append(f"{case}: raised {type(exc).__name__}: {str(exc)[:300]}")
        return "bad"
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_LINE.match(line)]
    others = [line for line in lines if not ERROR_LINE.match(line) and not line.startswith(("note: ", "model: "))]
    if others:
        bad.append(f"{case}: exit {rc}, other output on stderr {err[-300:]!r}")
        return "bad"
    if rc == 0 and not errors:
        return "result"
    if rc != 2 or len(errors) != 1:
        bad.append(f"{case}: exit {rc}, stderr {err[-300:]!r}")
        return "bad"
    fault = _message_fault(ERROR_LINE.sub("", errors[0]), tuple(a for a in argv if "/" in a))
    if fault:
        bad.append(f"{case}: {fault}: {errors[0][:300]!r}")
        return "bad"
    return "refused"


def test_every_cli_command_answers_every_odd_file(odd, tmp_path, capfd):
    bad: list[str] = []
    seen: Counter[str] = Counter()
    photo, sticker, mask = (str(odd[k]) for k in ("photo", "sticker", "mask"))
    recipe = str(odd["recipe"])
    commands = {
        "upscale": lambda f, o: ["upscale", f, "-o", o, "--model", "nearest", "--scale", "2"],
        "inpaint image": lambda f, o: ["inpaint", f, mask, "-o", o, "--model", "telea"],
        "inpaint mask": lambda f, o: ["inpaint", photo, f, "-o", o, "--model", "telea"],
        "composite background": lambda f, o: ["composite", f, sticker, "-o", o, "--x", "10"],
        "composite foreground": lambda f, o: ["composite", photo, f, "-o", o],
        "composite mask": lambda f, o: ["composite", photo, sticker, "--mask", f, "-o", o],
        "composite depth map": lambda f, o: ["composite", photo, sticker, "--depth", "--bg-depth", f, "-o", o],
        "edit": lambda f, o: ["edit", f, "-o", o, "--recipe", recipe],
        "cutout": lambda f, o: ["cutout", f, "-o", o, "--model", "grabcut"],
    }
    files = _odd_files(odd)
    for i, (name, path) in enumerate(files.items()):
        for where, argv in commands.items():
            out = str(tmp_path / f"{i}-{where.replace(' ', '-')}.png")
            seen[_run(argv(str(path), out), capfd, bad, f"{where} <- {name}")] += 1
    _verdict(bad, seen, "commands", results=100, refusals=80)


def test_every_cli_option_answers_odd_values(odd, tmp_path, capfd):
    bad: list[str] = []
    seen: Counter[str] = Counter()
    photo, sticker, mask = (str(odd[k]) for k in ("photo", "sticker", "mask"))
    out = str(tmp_path / "out.png")
    folder = tmp_path / "folder"  # a folder of a photo and an animation, for the options of a batch
    (folder / "sub").mkdir(parents=True)
    Image.open(photo).save(folder / "photo.jpg")
    frames = [Image.new("RGB", (6, 4), (60 * i, 0, 0)) for i in range(3)]
    frames[0].save(folder / "sub" / "anim.gif", save_all=True, append_images=frames[1:], duration=[100, 200, 300])
    batch = str(tmp_path / "batch")
    options = {
        ("upscale", photo, "-o", out, "--model", "nearest"): ("--scale", "--tile", "--model", "--format", "--quality"),
        ("upscale", str(folder), "-o", batch, "--model", "nearest", "--recursive"): (
            "--format",
            "--quality",
            "--scale",
        ),
        ("upscale", str(folder), "-o", batch, "--model", "nearest", "--format", "webp"): ("--quality", "--recursive"),
        ("cutout", str(folder), "-o", batch, "--model", "grabcut"): ("--format", "--quality", "--recursive"),
        ("inpaint", photo, mask, "-o", out, "--model", "telea"): ("--dilate", "--feather", "--margin", "--strategy"),
        ("composite", photo, sticker, "-o", out): (
            "--x",
            "--y",
            "--scale",
            "--rotate",
            "--opacity",
            "--feather",
            "--blend",
        ),
        ("composite", photo, sticker, "-o", out, "--depth"): ("--bg-depth", "--fg-depth", "--softness"),
        ("generate", "-o", str(tmp_path / "gen"), "--n", "2"): (
            "--seed",
            "--n",
            "--truncation",
            "--label",
            "--variations",
            "--model",
        ),
        ("generate", "-o", str(tmp_path / "anim"), "--interpolate-to", "3"): ("--frames", "--fps", "--label-to"),
        ("cutout", photo, "-o", out, "--model", "grabcut"): ("--box", "--grow", "--feather", "--model"),
        ("models",): ("--task",),
    }
    values = ("nan", "inf", "-inf", "abc", "", "1e308", "-1", "1.5", "18446744073709551616", "0", "x" * 10_000)
    for base, flags in options.items():
        for flag in flags:
            for value in values:
                seen[_run([*base, f"{flag}={value}"], capfd, bad, f"{base[0]} {flag} {value[:20]!r}")] += 1
    # the composite's extremes, and a recipe file of each hostile kind
    for extra in (["--x", "1000000000"], ["--scale", "8", "--rotate", "30"], ["--scale", "1e-9"]):
        seen[_run(["composite", photo, sticker, "-o", out, *extra], capfd, bad, f"composite {' '.join(extra)}")] += 1
    recipes = {**odd_inputs.HOSTILE_RECIPES, **odd_inputs.mask_recipes()}
    for name, text in recipes.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        seen[_run(["edit", photo, "-o", out, "--recipe", str(path)], capfd, bad, f"edit recipe {name}")] += 1
    _verdict(bad, seen, "commands", results=20, refusals=200)
