"""What every tab module offers app.py: a ``TAB`` (id, title, how it is mounted, its builder) and, once built,
its ``TabParts`` (the result its "send to" buttons send, and the inputs a sent picture can go to)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gradio.blocks import Blocks
from gradio.components import Component

from ui.context import AppContext

#: Concurrency groups (Gradio's ``concurrency_id``): the events of a group run one at a time, whichever tab
#: they come from, so at most one model request and one other pixel job (a composite, an edit step) work at
#: once, each within the per-request peak that ``python -m bench.bench_memory`` measures.
MODEL = "model"
PIXELS = "pixels"


@dataclass(frozen=True)
class SendTarget:
    """An input that takes a picture sent from a tab's result; its button reads "Send result to {label}"."""

    label: str
    component: Component


@dataclass(frozen=True)
class TabParts:
    """What a built tab offers the others: its result, and its inputs that a sent picture can go to; and what it
    wires on the app's page load (``on_load(demo)``), if anything."""

    result: Component
    targets: tuple[SendTarget, ...] = ()
    on_load: Callable[[Blocks], object] | None = None


@dataclass(frozen=True)
class Tab:
    """One tab of the app: app.py lays the tabs out, in the order of its table, and wires "send to" among them."""

    id: str
    title: str
    #: lays the tab out inside the current gr.Tab and wires its events
    build: Callable[[AppContext], TabParts]
    #: mount the tab (hidden) from the start: an image editor that mounts when its tab opens can drop a
    #: picture sent to it by "send to" in the same moment
    render_children: bool = False
