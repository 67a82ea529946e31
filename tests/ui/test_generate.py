"""The Generate tab's opening samples: drawn once, kept for every visitor, drawn again when pruned, never an error."""

from __future__ import annotations

from pathlib import Path

import torch

from core.errors import WeightsUnavailableError
from models.catalog import default_for
from models.registry import Task
from models.runtime import ModelCache
from ops.defaults import DEFAULT_COUNT
from ui.context import AppContext
from ui.generate import opening_handler, run_generate


def _ctx(tmp_path, loader=None) -> AppContext:
    return AppContext(cache=ModelCache(device=torch.device("cpu"), loader=loader), outdir=tmp_path)


def test_the_opening_samples_are_what_generate_gives_at_the_settings_shown(tmp_path):
    ctx = _ctx(tmp_path)
    spec = default_for(Task.GENERATE)
    items, selected = opening_handler(ctx, spec)()
    assert [caption for _, caption in items] == [f"seed {i}" for i in range(DEFAULT_COUNT)]
    assert selected == items[0][0]
    again = run_generate(ctx, spec.id, spec.labels[0], 0, DEFAULT_COUNT, 1.0)
    assert [Path(p).read_bytes() for p, _ in items] == [Path(p).read_bytes() for p, _ in again]


def test_they_are_drawn_once_and_again_when_their_files_are_gone(tmp_path):
    ctx = _ctx(tmp_path)
    on_load = opening_handler(ctx, default_for(Task.GENERATE))
    first, _ = on_load()
    assert on_load()[0] == first  # the second visitor gets the same files: nothing drawn again
    Path(first[3][0]).unlink()  # pruned after a day
    fresh, selected = on_load()
    assert all(Path(p).is_file() for p, _ in fresh) and fresh != first and selected == fresh[0][0]


def test_a_model_that_cannot_load_leaves_the_gallery_empty_without_an_error(tmp_path, caplog):
    def loader(*args):
        raise WeightsUnavailableError("BigGAN-deep 128 must be downloaded from the Hugging Face Hub.")

    items, selected = opening_handler(_ctx(tmp_path, loader), default_for(Task.GENERATE))()
    assert (items, selected) == ([], None)
    assert "opens without samples" in caplog.text
    assert opening_handler(_ctx(tmp_path), None)() == ([], None)  # no generator at all
