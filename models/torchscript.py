"""Read the weights out of a TorchScript archive without running any of its code.

``torch.jit.load`` compiles and runs the archive's code, and a plain unpickler would import
whatever the archive names, so neither is allowed. A TorchScript file is a zip: ``data.pkl``
pickles the module tree (objects of ``__torch__.*`` classes whose state is a dict of
attributes), tensors point at raw storages in ``data/<key>``, and ``code/`` holds the class
declarations, whose ``__parameters__`` / ``__buffers__`` lines say which attributes belong in
the state dict. We unpickle with an allow-list that only rebuilds tensors, turn every module
into an inert record, read those declaration lines as text, and flatten the tree into the keys
``module.state_dict()`` would produce.
"""

from __future__ import annotations

import collections
import io
import logging
import pickle
import re
import zipfile
from pathlib import Path

import torch

from core.errors import WeightsIntegrityError

log = logging.getLogger("ganvas")

_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
}

_CLASS_LINE = re.compile(r"^class\s+(\w+)\s*[(:]")
_LAYOUT_LINE = re.compile(r"^\s+(__parameters__|__buffers__)\s*=\s*\[(.*)\]\s*$")
_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")
_STORAGE_KEY = re.compile(r"^[0-9A-Za-z_]+$")


class _StorageType:
    """Stands in for ``torch.<X>Storage`` in the pickle: only its dtype is used."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class ScriptObject:
    """Inert record of one pickled ``__torch__`` object: its class name and its state."""

    qualname = ""

    def __new__(cls, *args: object) -> ScriptObject:
        obj = super().__new__(cls)
        obj.state = None
        return obj

    def __setstate__(self, state: object) -> None:
        self.state = state


def _identity(value: object, *_: object) -> object:
    return value


def _rebuild_tensor(
    storage: object,
    storage_offset: object,
    size: object,
    stride: object,
    requires_grad: object = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> torch.Tensor:
    """A view of ``storage`` with the given geometry, after checking it stays inside the storage."""
    if not isinstance(storage, torch.Tensor):
        raise WeightsIntegrityError("A tensor in the model file does not point at stored data.")
    if not (
        isinstance(storage_offset, int)
        and isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride)
        and all(isinstance(v, int) and v >= 0 for v in (storage_offset, *size, *stride))
    ):
        raise WeightsIntegrityError("A tensor in the model file has an invalid shape.")
    last = storage_offset - 1
    if all(size):
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= storage.numel():
        raise WeightsIntegrityError("A tensor in the model file reaches past the end of its data.")
    return torch.as_strided(storage, size, stride, storage_offset)


def _rebuild_parameter(data: object, requires_grad: object = False, backward_hooks: object = None) -> object:
    return data


_ALLOWED: dict[tuple[str, str], object] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    # TorchScript tags typed lists and containers with these; the tags carry no data.
    ("torch.jit._pickle", "build_intlist"): _identity,
    ("torch.jit._pickle", "build_doublelist"): _identity,
    ("torch.jit._pickle", "build_boollist"): _identity,
    ("torch.jit._pickle", "build_tensorlist"): _identity,
    ("torch.jit._pickle", "restore_type_tag"): _identity,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild tensors, plain containers and inert module records."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._root = root
        self._names = set(archive.namelist())
        self._storages: dict[str, torch.Tensor] = {}
        self._classes: dict[str, type[ScriptObject]] = {}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "__torch__" or module.startswith("__torch__."):
            qualname = f"{module}.{name}"
            if qualname not in self._classes:
                self._classes[qualname] = type("ScriptObject", (ScriptObject,), {"qualname": qualname})
            return self._classes[qualname]
        raise WeightsIntegrityError(
            f"The model file refers to {module}.{name}, which a weights file never needs; "
            "Ganvas refuses to open it because it could run code."
        )

    def persistent_load(self, pid: object) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise WeightsIntegrityError("The model file refers to its data in a way Ganvas does not understand.")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, _StorageType) or not isinstance(key, str) or not _STORAGE_KEY.match(key):
            raise WeightsIntegrityError("The model file refers to its data in a way Ganvas does not understand.")
        if not isinstance(numel, int) or numel < 0:
            raise WeightsIntegrityError("The model file gives an invalid size for a block of its data.")
        if key in self._storages:
            return self._storages[key]
        entry = f"{self._root}/data/{key}"
        if entry not in self._names:
            raise WeightsIntegrityError(f"The model file is incomplete: data block {key} is missing.")
        raw = bytearray(self._archive.read(entry))
        itemsize = torch.empty(0, dtype=kind.dtype).element_size()
        if len(raw) < numel * itemsize:
            raise WeightsIntegrityError(f"The model file is truncated: data block {key} is too short.")
        if numel == 0:
            storage = torch.empty(0, dtype=kind.dtype)
        else:
            storage = torch.frombuffer(raw, dtype=kind.dtype, count=numel)
        self._storages[key] = storage
        return storage


def _layouts(archive: zipfile.ZipFile, root: str) -> dict[str, tuple[list[str], list[str]]]:
    """``qualname -> (parameter names, buffer names)`` read as text from the declarations in ``code/``."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    prefix = f"{root}/code/"
    for entry in archive.namelist():
        if not (entry.startswith(prefix) and entry.endswith(".py")):
            continue
        module = entry[len(prefix) : -len(".py")].replace("/", ".")
        current: str | None = None
        text = archive.read(entry).decode("utf-8", errors="replace")
        for line in text.splitlines():
            m = _CLASS_LINE.match(line)
            if m:
                current = f"{module}.{m.group(1)}"
                out[current] = ([], [])
                continue
            m = _LAYOUT_LINE.match(line)
            if m and current is not None:
                names = [a or b for a, b in _QUOTED.findall(m.group(2))]
                out[current][0 if m.group(1) == "__parameters__" else 1].extend(names)
    return out


def _contains_tensor(value: object) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_tensor(v) for v in value.values())
    return False


def _flatten(
    node: ScriptObject,
    prefix: str,
    layouts: dict[str, tuple[list[str], list[str]]],
    out: dict[str, torch.Tensor],
    seen: set[int],
) -> None:
    if id(node) in seen:
        raise WeightsIntegrityError("The model file's module tree loops back on itself.")
    seen.add(id(node))
    state = node.state
    if not isinstance(state, dict):
        if _contains_tensor(state):
            name = prefix.rstrip(".") or "the top-level module"
            raise WeightsIntegrityError(
                f"The model file stores the weights of {name} in a custom format that Ganvas cannot name."
            )
        return
    layout = layouts.get(node.qualname)
    if layout is not None:
        for name in (*layout[0], *layout[1]):
            value = state.get(name)
            if isinstance(value, torch.Tensor):
                out[prefix + name] = value
            elif value is not None:
                raise WeightsIntegrityError(
                    f"The model file declares {prefix + name} as a weight but stores no tensor."
                )
    else:
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                out[prefix + str(name)] = value
    for name, value in state.items():
        if isinstance(value, ScriptObject):
            _flatten(value, f"{prefix}{name}.", layouts, out, seen)


def _archive_root(names: list[str], label: str) -> str:
    roots = {n.split("/", 1)[0] for n in names if n.count("/") == 1 and n.endswith("/data.pkl")}
    if len(roots) != 1:
        raise WeightsIntegrityError(
            f"{label} is not a TorchScript model saved by PyTorch 1.4 or later (no single data.pkl inside)."
        )
    return roots.pop()


def state_dict_from_torchscript(path: Path) -> dict[str, torch.Tensor]:
    """The flat state dict (dotted keys, as ``module.state_dict()`` names them) of a TorchScript file."""
    path = Path(path)
    label = path.name
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WeightsIntegrityError(f"{label} is not a TorchScript model file (it is not a zip archive).") from exc
    with archive:
        names = archive.namelist()
        root = _archive_root(names, label)
        order = f"{root}/byteorder"
        if order in names and archive.read(order).strip() not in (b"little", b""):
            raise WeightsIntegrityError(f"{label} was saved on a big-endian machine; Ganvas cannot read it.")
        layouts = _layouts(archive, root)
        try:
            obj = _RestrictedUnpickler(archive.read(f"{root}/data.pkl"), archive, root).load()
        except WeightsIntegrityError:
            raise
        except Exception as exc:  # a damaged pickle raises many unrelated types: the log keeps which one
            log.warning("%s: reading data.pkl failed: %r", label, exc)
            raise WeightsIntegrityError(f"{label} is damaged: its module tree could not be read.") from exc
    if not isinstance(obj, ScriptObject):
        raise WeightsIntegrityError(f"{label} does not hold a TorchScript module.")
    out: dict[str, torch.Tensor] = {}
    try:
        _flatten(obj, "", layouts, out, set())
    except RecursionError as exc:
        raise WeightsIntegrityError(f"{label} is damaged: its module tree is nested implausibly deep.") from exc
    if not out:
        raise WeightsIntegrityError(f"{label} holds a module without any weights.")
    return out


def lama_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Re-root a LaMa generator's keys at ``model.model.`` so spandrel detects it.

    Traced LaMa files name the generator's layers ``model.1...``, ``generator.model.1...`` or
    ``1...`` depending on what was traced; the prefix is found from the first block's batch norm
    and only keys under it are kept (a traced training module may also hold a discriminator).
    """
    anchor = "1.bn_l.running_mean"
    prefixes = sorted((k[: -len(anchor)] for k in state_dict if k == anchor or k.endswith("." + anchor)), key=len)
    if not prefixes:
        raise WeightsIntegrityError("The weights are not a LaMa inpainting model (no Fourier convolution blocks).")
    prefix = prefixes[0]
    return {"model.model." + k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


__all__ = ["ScriptObject", "lama_keys", "state_dict_from_torchscript"]
