"""Schema test over every registered model (torchvision's habit), and registry behaviour."""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import UnknownModelError
from models.catalog import default_for, default_registry, get_spec, list_models
from models.integrity import sha256_file
from models.loaders import LOADERS
from models.registry import (
    COMMIT_RE,
    ID_RE,
    SHA256_PREFIX_RE,
    SHA256_RE,
    Builtin,
    Combined,
    EmbeddedFile,
    HubFile,
    ModelSpec,
    PackageFile,
    Registry,
    Task,
)
from models.weights import ASSETS_DIR

SPECS = list_models()
ALLOWED_FIELDS = {f.name for f in dataclasses.fields(ModelSpec)}
ALLOWED_TILING = {"supported", "discouraged", "internal"}


def test_catalogue_is_not_empty_and_covers_every_editing_task():
    tasks = {s.task for s in SPECS}
    assert {Task.UPSCALE, Task.INPAINT} <= tasks
    for task in (Task.UPSCALE, Task.INPAINT):
        assert any(s.is_classical for s in list_models(task)), f"{task} needs a model without weights"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_spec_schema(spec: ModelSpec):
    assert set(dataclasses.asdict(spec)) <= ALLOWED_FIELDS
    assert ID_RE.match(spec.id), spec.id
    assert isinstance(spec.task, Task)
    assert spec.title and spec.description and spec.license.strip()
    assert spec.tiling in ALLOWED_TILING
    assert spec.size_multiple >= 1 and spec.min_size >= 1
    if spec.task == Task.UPSCALE:
        assert spec.scale in (0, 1, 2, 3, 4, 8)
    if spec.task == Task.GENERATE:
        assert spec.output_size and spec.output_size > 0
        assert len(set(spec.labels)) == len(spec.labels)
    src = spec.source
    assert isinstance(src, (Builtin, Combined, EmbeddedFile, HubFile, PackageFile))
    assert spec.loader in LOADERS
    # a network has a parameter count (checked against the loaded module by test_models); no weights, none
    assert (spec.param_count > 0) == (not isinstance(src, (Builtin, Combined)))
    if isinstance(src, Combined):  # made of other entries of the same task, each offline
        parts = [get_spec(p) for p in src.parts]
        assert all(p.task == spec.task and not p.needs_download and p.id != spec.id for p in parts)
    if isinstance(src, HubFile):
        assert "/" in src.repo_id and src.filename
        assert COMMIT_RE.match(src.revision), "Hub revisions are pinned to a 40-hex commit"
        assert (src.sha256 and SHA256_RE.match(src.sha256)) or (
            src.sha256_prefix and SHA256_PREFIX_RE.match(src.sha256_prefix)
        ), "every Hub file carries a sha256 (full, or the verified prefix)"
        assert spec.id.endswith(".hub")
    if isinstance(src, EmbeddedFile):
        assert SHA256_RE.match(src.sha256)
        assert src.path.endswith(".safetensors"), "embedded weights ship as safetensors"
        path = ASSETS_DIR / src.path
        assert path.is_file(), f"missing asset {src.path}"
        assert sha256_file(path) == src.sha256, f"{src.path} does not match its recorded sha256"
        assert src.card and (ASSETS_DIR / src.card).is_file(), "every embedded weight has a model card"
    if isinstance(src, PackageFile):
        assert src.files and all(SHA256_RE.match(h) for _, h in src.files)
        assert "==" in src.distribution, "package sources pin the distribution version"


def test_exactly_one_default_per_task_at_most():
    for task in Task:
        defaults = [s for s in list_models(task) if s.default]
        assert len(defaults) <= 1, f"{task} has several defaults"
        if any(not s.needs_download for s in list_models(task)):
            assert default_for(task) is not None


def test_defaults_work_offline():
    for task in Task:
        spec = default_for(task)
        if spec is not None:
            assert not spec.needs_download, f"the {task} default must not need the Hub"


def test_unknown_model_is_a_typed_error_listing_known_ids():
    with pytest.raises(UnknownModelError) as err:
        get_spec("no-such-model")
    assert "no-such-model" in str(err.value) and "bicubic" in str(err.value)


def test_duplicate_ids_are_refused():
    spec = SPECS[0]
    with pytest.raises(ValueError, match="duplicate"):
        Registry([spec, spec])


def test_list_models_filters_by_task():
    ups = list_models("upscale")
    assert ups and all(s.task == Task.UPSCALE for s in ups)
    assert len(list_models()) == len(SPECS)


def test_readme_model_table_is_generated_from_the_registry():
    """The table between README.md's markers is what the documented command prints from the registry."""
    import subprocess
    import sys

    from scripts import readme_models

    cmd = [sys.executable, "-m", "scripts.readme_models"]
    printed = subprocess.run(cmd, cwd=readme_models.ROOT, capture_output=True, text=True, check=True).stdout
    assert printed.strip() == readme_models.table()
    text = (readme_models.ROOT / "README.md").read_text()
    body = text[text.index(readme_models.BEGIN) + len(readme_models.BEGIN) : text.index(readme_models.END)].strip()
    assert body == readme_models.table(), "README model table is stale: run python -m scripts.readme_models --write"


def test_an_unknown_id_lists_a_few_models_and_says_how_many_more():
    """With a dozen upscalers, "There is no model called 'x'. The upscale models are: ..." ran past 550
    characters: a refusal must stay one readable line."""
    with pytest.raises(UnknownModelError) as err:
        default_registry().for_task(Task.UPSCALE, "nosuch")
    message = str(err.value)
    assert len(message) < 300 and "more (python cli.py models lists them)" in message
    assert default_registry().list(Task.UPSCALE)[0].id in message
