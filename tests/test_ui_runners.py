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
