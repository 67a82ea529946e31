"""scripts.prefetch readies every model an offline default runs, so the first request downloads nothing."""

from __future__ import annotations

from models.catalog import default_registry
from models.registry import Task
from scripts.prefetch import offline_defaults


def test_every_model_an_offline_default_runs_is_prefetched_once():
    registry = default_registry()
    ids = [s.id for s in offline_defaults(registry)]
    assert len(ids) == len(set(ids))
    for task in Task:
        default = registry.default_for(task)
        assert default is None or default.id in ids
    assert {"span-x2", "span-x4"} <= set(ids)  # the upscale rule by scale (models.defaults.BY_SCALE)
    cutout = registry.default_for(Task.CUTOUT)
    salient = cutout.params.get("salient")
    assert salient is None or salient in ids  # the part a promptable cut-out loads to find the subject
