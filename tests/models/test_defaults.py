"""Defaults per task: the environment variable, then the local Hub cache, then a Hub that answers, then offline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from models import defaults
from models.catalog import default_registry
from models.defaults import (
    PREFERENCES,
    Defaults,
    HubCheck,
    env_var,
    resolve_default,
    resolve_defaults,
    short_title,
)
from models.registry import HubFile, Task

CPU, GPU = torch.device("cpu"), torch.device("cuda")  # a device object only: nothing runs on it


def put_in_cache(hub: Path, src: HubFile, payload: bytes = b"weights") -> Path:
    """A file where huggingface_hub keeps a pinned revision (models--owner--name/snapshots/<commit>/<file>)."""
    path = hub / ("models--" + src.repo_id.replace("/", "--")) / "snapshots" / src.revision / src.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def no_hub(timeout: float) -> tuple[bool, str]:
    return False, "huggingface.co could not be looked up"


def hub_answers(timeout: float) -> tuple[bool, str]:
    return True, ""


def must_not_ask(timeout: float) -> tuple[bool, str]:
    raise AssertionError("the Hub was asked although the answer was known without it")


@pytest.fixture()
def reg():
    return default_registry()


@pytest.fixture()
def env(monkeypatch):
    """No variable of ours and no HF_HUB_OFFLINE, whatever the shell running the tests set."""
    for name in [env_var(t) for t in Task] + [defaults.MODE_ENV, "HF_HUB_OFFLINE"]:
        monkeypatch.delenv(name, raising=False)
    return {}


def test_every_preference_is_a_hub_model_of_its_task(reg):
    for task, kinds in PREFERENCES.items():
        assert set(kinds) == {"cpu", "gpu"}, task
        for ids in kinds.values():
            for model_id in ids:
                spec = reg.get(model_id)
                assert spec.task == task and isinstance(spec.source, HubFile), model_id
    # a GPU gets the heavy model of every task
    assert PREFERENCES[Task.UPSCALE]["gpu"][0] == "realesrgan-x4plus.hub"
    assert PREFERENCES[Task.INPAINT]["gpu"][0] == "big-lama.hub"
    assert PREFERENCES[Task.GENERATE]["gpu"][0] == "biggan-deep-128.hub"
    assert PREFERENCES[Task.CUTOUT]["gpu"][0] == "birefnet-lite-2k.hub"


def test_a_file_in_the_cache_wins_without_asking_the_hub(reg, hf_home, env):
    put_in_cache(hf_home, reg.get("realesr-general-x4v3.hub").source)
    choice = resolve_default(reg, Task.UPSCALE, CPU, HubCheck(probe=must_not_ask), env)
    assert choice.spec.id == "realesr-general-x4v3.hub"
    assert choice.reason == "Real-ESRGAN general x4v3 (Hub, in cache)"


def test_on_a_gpu_the_heavy_model_comes_first_and_a_cached_light_one_before_a_download(reg, hf_home, env):
    hub = HubCheck(probe=hub_answers)
    assert resolve_default(reg, Task.UPSCALE, GPU, hub, env).spec.id == "realesrgan-x4plus.hub"
    assert resolve_default(reg, Task.INPAINT, GPU, hub, env).spec.id == "big-lama.hub"
    assert resolve_default(reg, Task.GENERATE, GPU, hub, env).spec.id == "biggan-deep-128.hub"
    put_in_cache(hf_home, reg.get("realesr-general-x4v3.hub").source)
    assert resolve_default(reg, Task.UPSCALE, GPU, hub, env).reason == "Real-ESRGAN general x4v3 (Hub, in cache)"
    put_in_cache(hf_home, reg.get("realesrgan-x4plus.hub").source)
    assert resolve_default(reg, Task.UPSCALE, GPU, hub, env).reason == "Real-ESRGAN x4plus (Hub, in cache)"


def test_a_reachable_hub_gives_the_first_candidate_to_download(reg, hf_home, env):
    choice = resolve_default(reg, Task.UPSCALE, CPU, HubCheck(probe=hub_answers), env)
    assert choice.spec.id == "realesr-general-x4v3.hub"
    assert choice.reason == "Real-ESRGAN general x4v3 (Hub, downloads on first use, 5 MB)"


def test_an_unreachable_hub_falls_back_to_the_offline_default(reg, hf_home, env):
    got = resolve_defaults(reg, GPU, HubCheck(probe=no_hub), env)
    for task in Task:
        assert got.spec(task) == reg.default_for(task)
    fallback = short_title(reg.default_for(Task.INPAINT))
    assert got.choice(Task.INPAINT).reason == f"{fallback} (offline: the Hub could not be reached)"
    # the offline upscaler follows the output scale (models.defaults.BY_SCALE)
    upscale = got.choice(Task.UPSCALE)
    assert upscale.reason == "SPAN x2 up to x2, SPAN x4 above (offline: the Hub could not be reached)"
    assert [upscale.spec_for_scale(s).id for s in (1, 2, 2.5, 8)] == ["span-x2", "span-x2", "span-x4", "span-x4"]


def test_a_model_named_by_the_environment_has_no_rule_by_scale(reg, hf_home):
    choice = resolve_default(reg, Task.UPSCALE, GPU, HubCheck(probe=no_hub), {"GANVAS_UPSCALE_MODEL": "span-x4"})
    assert choice.by_scale == () and choice.spec_for_scale(2).id == "span-x4"


def test_hf_hub_offline_is_honoured_without_a_probe(reg, hf_home, env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    choice = resolve_default(reg, Task.INPAINT, GPU, HubCheck(probe=must_not_ask), env)
    assert choice.spec == reg.default_for(Task.INPAINT)
    assert choice.why == "offline: HF_HUB_OFFLINE is set"


def test_the_hub_is_asked_once_for_all_tasks(reg, hf_home, env):
    calls = []

    def counting(timeout):
        calls.append(timeout)
        return no_hub(timeout)

    resolve_defaults(reg, GPU, HubCheck(probe=counting), env)
    assert len(calls) == 1


def test_a_probe_that_hangs_is_cut_off(reg, hf_home, env):
    def hangs(timeout):
        time.sleep(30)
        return True, ""

    start = time.monotonic()
    choice = resolve_default(reg, Task.UPSCALE, GPU, HubCheck(timeout=0.3, probe=hangs), env)
    assert time.monotonic() - start < 2
    assert choice.why == "offline: the Hub did not answer within 0.3 s"


def test_the_real_probe_gives_up_within_seconds(reg, hf_home, env, monkeypatch):
    """This machine cannot reach the Hub: resolving every default at start-up stays quick."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    start = time.monotonic()
    got = resolve_defaults(reg, GPU)
    assert time.monotonic() - start < defaults.STARTUP_HUB_SECONDS + 1
    assert all(got.spec(t) == reg.default_for(t) for t in Task)


def test_the_environment_variable_wins_and_a_wrong_one_is_said(reg, hf_home, env):
    put_in_cache(hf_home, reg.get("realesr-general-x4v3.hub").source)
    hub = HubCheck(probe=must_not_ask)
    choice = resolve_default(reg, Task.UPSCALE, CPU, hub, {"GANVAS_UPSCALE_MODEL": "lanczos"})
    assert choice.spec.id == "lanczos" and choice.reason == "Lanczos-3 (set by GANVAS_UPSCALE_MODEL)"
    wrong = resolve_default(reg, Task.UPSCALE, CPU, hub, {"GANVAS_UPSCALE_MODEL": "telea"})
    assert wrong.spec.id == "realesr-general-x4v3.hub"
    assert wrong.why == "Hub, in cache; GANVAS_UPSCALE_MODEL=telea names no upscale model"
    off = resolve_default(reg, Task.INPAINT, GPU, HubCheck(probe=no_hub), {"GANVAS_INPAINT_MODEL": "nosuch"})
    assert off.why == "offline: the Hub could not be reached; GANVAS_INPAINT_MODEL=nosuch names no inpaint model"


def test_offline_mode_keeps_the_registry_defaults(reg, hf_home, env):
    put_in_cache(hf_home, reg.get("realesr-general-x4v3.hub").source)
    got = resolve_defaults(reg, GPU, HubCheck(probe=must_not_ask), {defaults.MODE_ENV: "offline"})
    assert got.spec(Task.UPSCALE) == reg.default_for(Task.UPSCALE)
    assert got.choice(Task.UPSCALE).why == "offline: GANVAS_DEFAULTS=offline"


def test_a_task_without_a_quick_hub_model_keeps_its_offline_default(reg, hf_home, env, monkeypatch):
    monkeypatch.setattr(defaults, "PREFERENCES", {Task.UPSCALE: {"gpu": ("realesrgan-x4plus.hub",), "cpu": ()}})
    put_in_cache(hf_home, reg.get("realesrgan-x4plus.hub").source)  # a GPU model in the cache stays off a CPU
    choice = resolve_default(reg, Task.UPSCALE, CPU, HubCheck(probe=must_not_ask), env)
    assert choice.spec == reg.default_for(Task.UPSCALE)
    assert choice.why == "offline default; no Hub model of this task is quick on a CPU"
    other = resolve_default(reg, Task.INPAINT, GPU, HubCheck(probe=must_not_ask), env)  # no candidates at all
    assert other.spec == reg.default_for(Task.INPAINT) and other.why == "offline default"


def test_for_task_takes_the_resolved_default_and_an_explicit_id_as_is(reg, hf_home, env):
    put_in_cache(hf_home, reg.get("realesr-general-x4v3.hub").source)
    got = resolve_defaults(reg, CPU, HubCheck(probe=no_hub), env)
    assert got.for_task(Task.UPSCALE, None).id == "realesr-general-x4v3.hub"
    assert got.for_task(Task.UPSCALE, "").id == "realesr-general-x4v3.hub"
    assert got.for_task(Task.UPSCALE, "bicubic").id == "bicubic"
    assert Defaults.offline(reg).for_task(Task.UPSCALE).id == reg.default_for(Task.UPSCALE).id


def test_the_readme_says_which_default_each_device_gets():
    """README.md's defaults table is what ``python -m scripts.readme_models --write`` generates from PREFERENCES."""
    from scripts import readme_models

    text = (readme_models.ROOT / "README.md").read_text()
    start = text.index(readme_models.DEFAULTS_BEGIN) + len(readme_models.DEFAULTS_BEGIN)
    body = text[start : text.index(readme_models.DEFAULTS_END)].strip()
    assert body == readme_models.defaults_table(), "stale: run python -m scripts.readme_models --write"


def test_the_space_preloads_every_default_candidate_at_its_pinned_revision(reg):
    """README.md's front matter is what ``python -m scripts.readme_models --write`` generates: the Space fetches
    every Hub default candidate's file at build time, at the catalogue's pinned revision."""
    from scripts import readme_models

    text = (readme_models.ROOT / "README.md").read_text()
    assert readme_models.front_matter(text) == text, (
        "stale preload_from_hub: run python -m scripts.readme_models --write"
    )
    head = text.split("\n---\n", 1)[0]
    candidates = {i for kinds in PREFERENCES.values() for ids in kinds.values() for i in ids}
    for model_id in candidates:
        src = reg.get(model_id).source
        [line] = [ln for ln in head.splitlines() if ln.startswith(f"  - {src.repo_id} ")]
        _, repo, files, revision = line.split()
        assert src.filename in files.split(",") and revision == src.revision, line
