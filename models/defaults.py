"""Each task's default model, chosen once at start-up, best available first.

Per task: the model its environment variable names (``GANVAS_UPSCALE_MODEL``, ...); else the first of the
device's Hub candidates whose file is already in the local Hugging Face cache; else the first candidate
when the Hub answers within a few seconds (never asked under ``HF_HUB_OFFLINE``); else the registry's
offline default. ``GANVAS_DEFAULTS=offline`` keeps the offline defaults without looking further.
The candidates depend on the device: a GPU gets the heavy models, a CPU those that answer in seconds
there (``python -m bench.bench_defaults`` times them).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import try_to_load_from_cache

from core.errors import InvalidInputError, UnknownModelError
from models.registry import HubFile, ModelSpec, Registry, Task
from models.weights import HUB_PROBE_TIMEOUT, _hub_reachable, hub_offline

#: A Hub model is a CPU candidate when its task's workload in bench/bench_defaults.py (an upscale of 256x256,
#: a 512x512 fill, 8 samples) takes less than this many processor seconds on one thread of the dev CPU.
CPU_SECONDS_LIMIT = 5.0
#: The longest the start-up check of the Hub may take (a name lookup that hangs included); GANVAS_HUB_TIMEOUT
#: may make it shorter.
STARTUP_HUB_SECONDS = min(3.0, HUB_PROBE_TIMEOUT)
#: Set to "offline" to start on the registry's offline defaults without looking at the cache or the Hub.
MODE_ENV = "GANVAS_DEFAULTS"

#: Hub candidates per task and device kind, best first; the first found in the cache, else (with a Hub)
#: the first of all, is the default. A CPU gets those under CPU_SECONDS_LIMIT in bench/results/defaults.md:
#: general-x4v3 0.9 s, Big-LaMa 3.9 s, BigGAN-deep 1.9 s; not x4plus (17 s) nor BiRefNet (12.9 s a cut-out).
PREFERENCES: dict[Task, dict[str, tuple[str, ...]]] = {
    Task.UPSCALE: {
        "gpu": ("realesrgan-x4plus.hub", "realesr-general-x4v3.hub"),
        "cpu": ("realesr-general-x4v3.hub",),
    },
    Task.INPAINT: {"gpu": ("big-lama.hub",), "cpu": ("big-lama.hub",)},
    Task.GENERATE: {"gpu": ("biggan-deep-128.hub",), "cpu": ("biggan-deep-128.hub",)},
    Task.CUTOUT: {"gpu": ("birefnet-lite-2k.hub",), "cpu": ()},
}


#: The offline default by output scale, where one model is not best at every scale: (largest scale, model id),
#: in rising order. Upscale: SPAN x2 up to x2 - on held-out photos at x2 +2.67 dB PSNR-Y over bicubic against
#: SPAN x4's +2.51, on illustrations +12.1 against +11.2 dB, and half the work, since a x4 model makes an image
#: of twice the side first (bench/results/upscale.md, upscale-illustrations.md); SPAN x4 above, where it leads
#: (+1.90 dB at x4 against +1.76). The rule applies only while the task's default is the offline one.
BY_SCALE: dict[Task, tuple[tuple[float, str], ...]] = {Task.UPSCALE: ((2.0, "span-x2"), (8.0, "span-x4"))}


def env_var(task: Task) -> str:
    """The environment variable that names ``task``'s model: GANVAS_UPSCALE_MODEL, ..."""
    return f"GANVAS_{Task(task).value.upper()}_MODEL"


def device_kind(device: torch.device) -> str:
    """The key of :data:`PREFERENCES`: "gpu" for CUDA and MPS, "cpu" otherwise."""
    return "cpu" if device.type == "cpu" else "gpu"


def short_title(spec: ModelSpec) -> str:
    """The title without its trailing "(Hub)" / "(embedded)" note: "Real-ESRGAN general x4v3"."""
    return re.sub(r"\s*\([^()]*\)$", "", spec.title) or spec.title


def in_local_cache(spec: ModelSpec) -> bool:
    """True when a Hub model's pinned file is in the local Hugging Face cache (no network; not verified here:
    loading checks its sha256)."""
    src = spec.source
    if not isinstance(src, HubFile):
        return False
    found = try_to_load_from_cache(src.repo_id, src.filename, revision=src.revision)
    return isinstance(found, str) and Path(found).is_file()


class HubCheck:
    """Whether the Hub answers, asked at most once and for at most ``timeout`` seconds (the probe runs in a
    daemon thread, so a name lookup that hangs cannot hold start-up)."""

    def __init__(
        self, timeout: float = STARTUP_HUB_SECONDS, probe: Callable[[float], tuple[bool, str]] = _hub_reachable
    ) -> None:
        self.timeout = timeout
        self._probe = probe
        self._answer: tuple[bool, str] | None = None

    def __call__(self) -> tuple[bool, str]:
        """(reachable, why not in words)."""
        if self._answer is None:
            self._answer = self._ask()
        return self._answer

    def _ask(self) -> tuple[bool, str]:
        if hub_offline():
            return False, "HF_HUB_OFFLINE is set"
        box: list[tuple[bool, str]] = []
        worker = threading.Thread(target=lambda: box.append(self._probe(self.timeout)), daemon=True)
        worker.start()
        worker.join(self.timeout)
        if not box:
            return False, f"the Hub did not answer within {self.timeout:g} s"
        ok, why = box[0]
        return ok, ("" if ok else "the Hub could not be reached")


@dataclass(frozen=True)
class Choice:
    """A task's default and why it was chosen; ``by_scale`` the offline models by output scale where the
    default is the offline one and :data:`BY_SCALE` has a rule for the task (else empty)."""

    task: Task
    spec: ModelSpec | None
    why: str  # "Hub, in cache", "offline: the Hub could not be reached", ...
    by_scale: tuple[tuple[float, ModelSpec], ...] = ()

    @property
    def reason(self) -> str:
        """What the CLI prints and the app shows: "Real-ESRGAN general x4v3 (Hub, in cache)", or with a rule by
        scale "SPAN x2 up to x2, SPAN x4 above (offline default)"."""
        if self.spec is None:
            return f"no {self.task.value} model ({self.why})"
        return f"{self.rule_text() or short_title(self.spec)} ({self.why})"

    def rule_text(self) -> str:
        """The rule by scale in words, "SPAN x2 up to x2, SPAN x4 above"; empty without one."""
        return describe_rule([(limit, short_title(spec)) for limit, spec in self.by_scale])

    def spec_for_scale(self, scale: float) -> ModelSpec | None:
        """The default for an output ``scale``: the rule's model where there is a rule, else ``spec``."""
        for limit, spec in self.by_scale:
            if scale <= limit:
                return spec
        return self.by_scale[-1][1] if self.by_scale else self.spec


def describe_rule(rule: list[tuple[float, str]]) -> str:
    """A rule by scale in words, each model by the name given: "A up to x2, B above"; empty for no rule."""
    if not rule:
        return ""
    return ", ".join([*(f"{name} up to x{limit:g}" for limit, name in rule[:-1]), f"{rule[-1][1]} above"])


def _scale_rule(registry: Registry, task: Task) -> tuple[tuple[float, ModelSpec], ...]:
    """:data:`BY_SCALE`'s rule for ``task`` as specs; empty when the task has none or a model is missing."""
    rule = BY_SCALE.get(task, ())
    if not rule or any(model_id not in registry for _limit, model_id in rule):
        return ()
    return tuple((limit, registry.get(model_id)) for limit, model_id in rule)


class Defaults:
    """The default of every task, as resolved once (or the registry's offline ones, for tests and tools)."""

    def __init__(self, registry: Registry, choices: Mapping[Task, Choice]) -> None:
        self.registry = registry
        self._choices = dict(choices)

    @classmethod
    def offline(cls, registry: Registry) -> Defaults:
        """The registry's offline defaults, nothing looked up."""
        return cls(
            registry, {t: Choice(t, registry.default_for(t), "offline default", _scale_rule(registry, t)) for t in Task}
        )

    def choice(self, task: Task | str) -> Choice:
        return self._choices[Task(task)]

    def spec(self, task: Task | str) -> ModelSpec | None:
        return self.choice(task).spec

    def for_task(
        self, task: Task | str, model_id: str | None = None, missing: str | None = None, scale: float | None = None
    ) -> ModelSpec:
        """``model_id``'s spec, or the task's resolved default when it is None or empty (see Registry.for_task);
        with an output ``scale``, the default for that scale where the task has a rule by scale."""
        choice = self.choice(task)
        spec = None if model_id else (choice.spec_for_scale(scale) if scale is not None else choice.spec)
        return spec if spec is not None else self.registry.for_task(task, model_id, missing)


def _named(registry: Registry, task: Task, env: Mapping[str, str]) -> tuple[ModelSpec | None, str]:
    """(the spec the task's variable names, a note when it names none of the task's models)."""
    var = env_var(task)
    value = env.get(var, "").strip()
    if not value:
        return None, ""
    try:
        return registry.for_task(task, value), ""
    except (UnknownModelError, InvalidInputError):
        return None, f"{var}={value} names no {task.value} model"


def resolve_default(
    registry: Registry,
    task: Task | str,
    device: torch.device,
    hub: HubCheck | None = None,
    env: Mapping[str, str] | None = None,
) -> Choice:
    """``task``'s default on ``device``, best available first (see the module's docstring)."""
    t = Task(task)
    env = os.environ if env is None else env
    named, note = _named(registry, t, env)
    if named is not None:
        return Choice(t, named, f"set by {env_var(t)}")

    def chosen(spec: ModelSpec | None, why: str) -> Choice:
        rule = _scale_rule(registry, t) if spec is not None and spec == registry.default_for(t) else ()
        return Choice(t, spec, "; ".join(w for w in (why, note) if w), rule)

    if env.get(MODE_ENV, "").strip().lower() == "offline":
        return chosen(registry.default_for(t), f"offline: {MODE_ENV}=offline")
    kind = device_kind(device)
    candidates = [registry.get(i) for i in PREFERENCES.get(t, {}).get(kind, ()) if i in registry]
    if not candidates:
        slow = f"; no Hub model of this task is quick on a {kind.upper()}" if t in PREFERENCES else ""
        return chosen(registry.default_for(t), "offline default" + slow)
    for spec in candidates:
        if in_local_cache(spec):
            return chosen(spec, "Hub, in cache")
    ok, why = (hub or HubCheck())()
    if not ok:
        return chosen(registry.default_for(t), f"offline: {why}")
    size = getattr(candidates[0].source, "size", None)
    return chosen(candidates[0], "Hub, downloads on first use" + (f", {size / 1e6:.0f} MB" if size else ""))


def resolve_defaults(
    registry: Registry, device: torch.device, hub: HubCheck | None = None, env: Mapping[str, str] | None = None
) -> Defaults:
    """Every task's default on ``device``; the Hub is asked at most once, for at most a few seconds."""
    hub = hub or HubCheck()
    return Defaults(registry, {t: resolve_default(registry, t, device, hub, env) for t in Task})
