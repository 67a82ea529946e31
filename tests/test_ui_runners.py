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
