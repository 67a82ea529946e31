"""A generator without labels (DCGAN faces) in the Generate tab: no label boxes, and every button works."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.catalog import list_models
from models.loaders import NETWORKS, _place
from models.registry import Task
from models.runtime import ModelCache
from ui.context import AppContext
from ui.generate import model_handler, run_generate, run_interpolate, run_variations

UNLABELLED = [s for s in list_models(Task.GENERATE) if not s.labels and s.loader in NETWORKS]


def _random_weights(spec, device, dtype, alternative, parts):
    """The spec's own network and adapter with random weights: the tab's wiring, no download."""
    build, adapter = NETWORKS[spec.loader]
    torch.manual_seed(0)
    return adapter(spec, device, dtype, _place(build(spec.params), device, dtype))


@pytest.fixture()
def ctx(tmp_path) -> AppContext:
    return AppContext(cache=ModelCache(device=torch.device("cpu"), loader=_random_weights), outdir=tmp_path)


def test_there_is_an_unlabelled_generator():
    assert UNLABELLED


@pytest.mark.parametrize("spec", UNLABELLED, ids=lambda s: s.id)
def test_choosing_it_hides_the_label_boxes_and_the_truncation(ctx, spec):
    label, label_b, truncation = model_handler(ctx)(spec.id)
    assert label.visible is False and label_b.visible is False and label.choices == []
    assert truncation.visible is spec.truncation


@pytest.mark.parametrize("spec", UNLABELLED, ids=lambda s: s.id)
def test_generate_interpolate_and_variations_run_without_a_label(ctx, spec):
    # a label left over from another model is ignored, as the hidden box may still hold one
    for label in (None, "", "Smileys & Emotion"):
        items = run_generate(ctx, spec.id, label, 3, 2, 1.0)
        assert [caption for _, caption in items] == ["seed 3", "seed 4"]
        assert all(Path(p).is_file() and Path(p).name.startswith(f"{spec.id}-seed") for p, _ in items)
    assert Path(run_interpolate(ctx, spec.id, None, None, 0, 1, 3, 1.0)).is_file()
    assert len(run_variations(ctx, spec.id, None, 0, 2, 0.3, 1.0)) == 2
