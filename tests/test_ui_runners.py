"""The tabs' runner functions (what the UI and the API call) without a browser."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.registry import Task, default_for
from models.runtime import ModelCache
from ops.errors import InvalidInputError
from ui.common import AppContext, spec_for


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
    files = [tmp_path / "cli" / f"{spec.id}-seed{5 + i}.png" for i in range(DEFAULT_COUNT)]
    assert len(items) == len(list((tmp_path / "cli").glob("*.png"))) == DEFAULT_COUNT
    for (path, _), f in zip(items, files, strict=True):
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(f)))


def test_each_model_dropdown_says_what_the_chosen_model_is_for():
    """Under every tab's model dropdown a note gives the chosen model's description and licence, and
    choosing another model changes it (the change handler, as the browser would call it)."""
    from app import build_demo
    from models.registry import default_registry
    from ui.common import model_note

    reg = default_registry()
    assert model_note(reg, "no-such-model") == "" and model_note(reg, None) == ""
    demo = build_demo()
    by_id = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    for task in (Task.GENERATE, Task.INPAINT, Task.UPSCALE):
        dropdown, note = by_id[f"{task.value}-model"], by_id[f"{task.value}-model-note"]
        default = reg.default_for(task)
        assert default.description in note.value and default.license in note.value
        [handler] = [f for f in demo.fns.values() if f.inputs == [dropdown] and f.outputs == [note]]
        other = next(s for s in reg.list(task) if s.id != default.id)
        assert handler.fn(other.id) == model_note(reg, other.id)
        assert other.description in handler.fn(other.id) and handler.fn(other.id) != note.value
