"""Ganvas: generate, composite, edit, inpaint and upscale images in one Gradio app.

Layout and wiring only: every tab lives in ui/, the work in ops/ and models/.
"""

from __future__ import annotations

try:  # Hugging Face ZeroGPU Spaces need `spaces` imported before torch
    import spaces  # type: ignore[import-not-found]  # noqa: F401
except ImportError:
    spaces = None

import importlib.util
import os

import gradio as gr
from gradio.components import Component

from models.defaults import resolve_defaults
from models.runtime import ModelCache
from ui import composite, cutout, edit, generate, inpaint, security, upscale
from ui.common import SendTarget, Tab, TabParts
from ui.context import PRUNE_EVERY_SECONDS, RESULTS_KEPT_SECONDS, AppContext
from ui.inputs import EXAMPLES, guard_inputs

TITLE = "Ganvas - an open image studio"

#: The tabs, in order. Under each, one "Send result to ..." button per input of every tab that takes a picture.
TABS: tuple[Tab, ...] = (generate.TAB, composite.TAB, edit.TAB, inpaint.TAB, upscale.TAB, cutout.TAB)


def build_demo(ctx: AppContext | None = None) -> gr.Blocks:
    """Build the whole app; tests import this and launch it on a free port. Without ``ctx``, each task's
    default is resolved here (local Hub cache, then a Hub that answers within seconds, then offline)."""
    if ctx is None:
        cache = ModelCache()
        ctx = AppContext(cache=cache, defaults=resolve_defaults(cache.registry, cache.device))
    ids = [tab.id for tab in TABS]
    if len(set(ids)) != len(ids):
        raise ValueError(f"Two tabs share an id: {ids}")
    # Gradio's own copies of uploads and results go after as long as ours (ctx.prune)
    with gr.Blocks(title=TITLE, delete_cache=(PRUNE_EVERY_SECONDS, RESULTS_KEPT_SECONDS)) as demo:
        gr.Markdown(
            f"# {TITLE}\nRuns on **{ctx.cache.device.type.upper()}**. Every tab works offline; "
            "models marked *download* fetch weights from the Hugging Face Hub on first use."
        )
        with gr.Tabs(selected=TABS[0].id, elem_id="main-tabs") as tabs:
            pages: list[tuple[str, gr.Tab, TabParts]] = []
            for tab in TABS:
                with gr.Tab(tab.title, id=tab.id, render_children=tab.render_children) as page:
                    pages.append((tab.id, page, tab.build(ctx)))
            targets = [(tab_id, target) for tab_id, _, parts in pages for target in parts.targets]
            # the send-to row closes each tab; its buttons name every tab's inputs, so it comes once all are built
            for _, page, parts in pages:
                with page:
                    _send_row(tabs, parts.result, targets)
        for _, _, parts in pages:
            if parts.on_load is not None:
                parts.on_load(demo)
    guard_inputs(demo)
    return demo


def _send_row(tabs: gr.Tabs, source: Component, targets: list[tuple[str, SendTarget]]) -> None:
    """The "Send result to ..." buttons under a tab. Each opens the target's tab first and hands the picture
    over in a second step: an image editor given a picture in the update that makes its tab visible can drop it."""
    with gr.Row():
        for tab_id, target in targets:
            button = gr.Button(f"Send result to {target.label}", size="sm")
            button.click(_opener(tab_id), [source], [tabs], api_visibility="private", queue=False).success(
                _hand_over, [source], [target.component], api_visibility="private", queue=False
            )


def _opener(tab_id: str):
    """The first step of a "send to": open the tab ``tab_id``, or say that there is nothing to send."""

    def open_tab(path):
        if not path:
            raise gr.Error("There is no result to send yet.")
        return gr.Tabs(selected=tab_id)

    return open_tab


def _hand_over(path):
    """The second step of a "send to": the picture, for the target input."""
    return path


#: Small samples (64 px emoji) are shown enlarged; their files, downloads and "send to" stay at native size.
#: The gallery's grid starts below its label and fullscreen button, so that they cover no sample.
#: Below 480 px (a phone): the gallery's columns may shrink under Gradio's 100 px minimum, so that all of them
#: fit without a sideways scroll, its captions are smaller, and it is as tall as its samples; the tab buttons are
#: smaller, so that all six tab names fit (else Gradio hides some behind a "More tabs" menu); the paint editors'
#: toolbar (zoom, undo) sits below their label, not over it; "Surprise me" keeps to one line beside Generate.
_TAB_BUTTONS = "#main-tabs > .tab-wrapper .tab-container button"
CSS = (
    "#gen-selected img { width: 100%; height: 100%; object-fit: contain; }\n"
    f"#gen-gallery .grid-container {{ grid-template-columns: repeat({generate.GALLERY_COLUMNS}, minmax(0, 1fr)) "
    "!important; padding-top: 36px !important; }\n"
    # transparency shows as a checkerboard where it is the point (a cut-out, a removed background), as image
    # editors show it; the picture's own box (not the panel's) carries it, so the board ends where the picture does
    "#cutout-result img, #edit-result img { width: auto !important; height: auto !important; max-width: 100%; "
    "max-height: 100%; margin: auto; background-color: #fff; background-size: 16px 16px; "
    "background-image: conic-gradient(#d9d9d9 25%, #fff 0 50%, #d9d9d9 0 75%, #fff 0); }\n"
    # a colour swatch shows even when its colour is the panel's (a white one on a white panel)
    ".dialog-button { border: 1px solid var(--border-color-primary) !important; }\n"
    "@media (max-width: 480px) { #gen-gallery .caption-label { font-size: 11px; padding: 1px 4px; } "
    f"{_TAB_BUTTONS} {{ padding-left: 2px !important; padding-right: 2px !important; "
    "font-size: 12px !important; } "
    ".paint-editor .image-container > .top-panel { top: 36px !important; } "
    "#gen-gallery, #gen-gallery .grid-wrap { height: auto !important; } "
    "#gen-surprise { white-space: nowrap; min-width: max-content !important; padding: 8px 10px; } }\n"
    f"@media (max-width: 370px) {{ {_TAB_BUTTONS} "
    "{ padding-left: 1px !important; padding-right: 1px !important; font-size: 11px !important; } }"
)


def mcp_available() -> bool:
    """True where Gradio's MCP server can run: the ``gradio[mcp]`` extra (the ``mcp`` package) is installed."""
    return importlib.util.find_spec("mcp") is not None


def launch_options() -> dict:
    """Look and limits of the app: ``python app.py`` and the browser tests launch with these. Assistants reach
    every tab's endpoint as an MCP tool (its docstring the description) where ``gradio[mcp]`` is installed;
    ``GRADIO_MCP_SERVER`` set to true or false decides instead."""
    return {
        "theme": gr.themes.Soft(),
        "css": CSS,
        "max_file_size": "50mb",
        "allowed_paths": [str(EXAMPLES)],
        "app_kwargs": security.app_kwargs(),
        "mcp_server": None if os.environ.get("GRADIO_MCP_SERVER") else mcp_available(),
    }


if __name__ == "__main__":
    build_demo().queue(max_size=32).launch(**launch_options())
