"""Ganvas: generate, composite, edit, inpaint and upscale images in one Gradio app.

Layout and wiring only: every tab lives in ui/, the work in ops/ and models/.
"""

from __future__ import annotations

try:  # Hugging Face ZeroGPU Spaces need `spaces` imported before torch
    import spaces  # type: ignore[import-not-found]  # noqa: F401
except ImportError:
    spaces = None

import gradio as gr

from models.runtime import ModelCache
from ui import composite, edit, generate, inpaint, upscale
from ui.common import EXAMPLES, PRUNE_EVERY_SECONDS, RESULTS_KEPT_SECONDS, AppContext

TITLE = "Ganvas - an open image studio"


def build_demo(ctx: AppContext | None = None) -> gr.Blocks:
    """Build the whole app; tests import this and launch it on a free port."""
    ctx = ctx or AppContext(cache=ModelCache())
    # Gradio's own copies of uploads and results go after as long as ours (ctx.prune)
    with gr.Blocks(title=TITLE, delete_cache=(PRUNE_EVERY_SECONDS, RESULTS_KEPT_SECONDS)) as demo:
        gr.Markdown(
            f"# {TITLE}\nRuns on **{ctx.cache.device.type.upper()}**. Every tab works offline; "
            "models marked *download* fetch weights from the Hugging Face Hub on first use."
        )
        # The tabs with an image editor are mounted (hidden) from the start: an editor that mounts when its
        # tab opens could drop a photo sent to it by "send to" in the same moment (measured: 2 of 7 browser
        # runs lost the photo without this, 0 of 10 with it).
        with gr.Tabs(selected="generate", elem_id="main-tabs") as tabs:
            with gr.Tab("Generate", id="generate"):
                gen = generate.build(ctx)
                gen_send = _send_buttons()
            with gr.Tab("Composite", id="composite"):
                comp = composite.build(ctx)
                comp_send = _send_buttons()
            with gr.Tab("Edit", id="edit", render_children=True):
                ed = edit.build(ctx)
                ed_send = _send_buttons()
            with gr.Tab("Inpaint", id="inpaint", render_children=True):
                inp = inpaint.build(ctx)
                inp_send = _send_buttons()
            with gr.Tab("Upscale", id="upscale"):
                up = upscale.build(ctx)
                up_send = _send_buttons()

        # "Send to" opens the target tab first and hands over the picture in a second step: an image editor
        # given a picture in the same update that makes its tab visible dropped it (measured: the inpaint
        # editor stayed empty after 6 of 72 sends done in one step, 0 of 84 in two).
        def to(tab_id: str):
            def open_tab(path):
                if not path:
                    raise gr.Error("There is no result to send yet.")
                return gr.Tabs(selected=tab_id)

            return open_tab

        def hand_over(path):
            return path

        targets = {
            "composite-bg": (comp.background, to("composite")),
            "composite-fg": (comp.foreground, to("composite")),
            "edit": (ed.image, to("edit")),
            "inpaint": (inp.source, to("inpaint")),
            "upscale": (up.image, to("upscale")),
        }
        for source, buttons in (
            (gen.selected, gen_send),
            (comp.result, comp_send),
            (ed.result, ed_send),
            (inp.result, inp_send),
            (up.result, up_send),
        ):
            for key, button in buttons.items():
                target, fn = targets[key]
                button.click(fn, [source], [tabs], api_visibility="private", queue=False).success(
                    hand_over, [source], [target], api_visibility="private", queue=False
                )
    return demo


def _send_buttons() -> dict[str, gr.Button]:
    labels = {
        "composite-bg": "Send result to Composite (background)",
        "composite-fg": "Send result to Composite (foreground)",
        "edit": "Send result to Edit",
        "inpaint": "Send result to Inpaint",
        "upscale": "Send result to Upscale",
    }
    with gr.Row():
        return {key: gr.Button(text, size="sm") for key, text in labels.items()}


#: Small samples (64 px emoji) are shown enlarged; their files, downloads and "send to" stay at native size.
#: The gallery's grid starts below its label and fullscreen button, which covered the first row's tops.
#: The gallery keeps its columns on a phone by letting them shrink: Gradio's columns are at least 100 px wide,
#: so at 390 px the fourth column (seeds 3 and 7) sat off to the side behind a horizontal scroll. Below 480 px
#: the captions are smaller, and so are the tab buttons: the five tab names fit a phone's width (else Gradio
#: hides three behind a "More tabs" menu), and the paint editors' toolbar (zoom, undo) sits below their label,
#: which it covered, and the gallery is as tall as its samples (its fixed 360 px left half of it empty there);
#: "Surprise me" keeps to one line beside Generate (it wrapped under its die).
_TAB_BUTTONS = "#main-tabs > .tab-wrapper .tab-container button"
CSS = (
    "#gen-selected img { width: 100%; height: 100%; object-fit: contain; }\n"
    f"#gen-gallery .grid-container {{ grid-template-columns: repeat({generate.GALLERY_COLUMNS}, minmax(0, 1fr)) "
    "!important; padding-top: 36px !important; }\n"
    # a colour swatch shows even when its colour is the panel's (Edit's white fill colour was invisible)
    ".dialog-button { border: 1px solid var(--border-color-primary) !important; }\n"
    "@media (max-width: 480px) { #gen-gallery .caption-label { font-size: 11px; padding: 1px 4px; } "
    f"{_TAB_BUTTONS} {{ padding-left: 4px !important; padding-right: 4px !important; "
    "font-size: 13px !important; } "
    ".paint-editor .image-container > .top-panel { top: 36px !important; } "
    "#gen-gallery, #gen-gallery .grid-wrap { height: auto !important; } "
    "#gen-surprise { white-space: nowrap; min-width: max-content !important; padding: 8px 10px; } }\n"
    f"@media (max-width: 370px) {{ {_TAB_BUTTONS} "
    "{ padding-left: 3px !important; padding-right: 3px !important; font-size: 12px !important; } }"
)


def launch_options() -> dict:
    """Look and limits of the app: ``python app.py`` and the browser tests launch with these."""
    return {"theme": gr.themes.Soft(), "css": CSS, "max_file_size": "50mb", "allowed_paths": [str(EXAMPLES)]}


if __name__ == "__main__":
    build_demo().queue(max_size=32).launch(**launch_options())
