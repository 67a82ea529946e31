"""Choosing a model in a tab: the dropdown, its labels and note, and the chosen model's spec."""

from __future__ import annotations

import gradio as gr

from models.registry import ModelSpec, Registry, Task
from ui.context import AppContext


def spec_for(ctx: AppContext, task: Task, model_id: str | None, missing: str | None = None) -> ModelSpec:
    """The chosen model's spec (or the task's default, as resolved at start-up); a model of another task is a
    plain error."""
    return ctx.defaults.for_task(task, model_id, missing)


def model_label(spec: ModelSpec) -> str:
    """A dropdown label: the model's title and where its weights come from (and "slow on CPU" where so)."""
    tags = ["classical" if spec.is_classical else "download" if spec.needs_download else "offline"]
    if spec.slow_on_cpu:
        tags.append("slow on CPU")
    return f"{spec.title} [{', '.join(tags)}]"


def model_choices(registry: Registry, task: Task) -> list[tuple[str, str]]:
    """(label, id) pairs for a model dropdown, each label saying where the weights come from."""
    return [(model_label(spec), spec.id) for spec in registry.list(task)]


def model_note(registry: Registry, model_id: str | None) -> str:
    """What the chosen model is good for, and its licence: the line under a model dropdown."""
    if not model_id or model_id not in registry:
        return ""
    spec = registry.get(model_id)
    return f"{spec.description} *Licence: {spec.license}.*"


def default_note(ctx: AppContext, task: Task) -> str:
    """The line under a model dropdown that says which model is the default here and why."""
    return f"Default here: {ctx.defaults.choice(task).reason}."


def model_picker(ctx: AppContext, task: Task, default: ModelSpec | None, elem_id: str) -> gr.Dropdown:
    """The model dropdown of a tab, preselecting ``default``, with the default's reason and the chosen model's
    note under it (the note updated on change, unqueued: it is a lookup, and must not wait behind a running job)."""
    model = gr.Dropdown(
        model_choices(ctx.registry, task), value=default.id if default else None, label="Model", elem_id=elem_id
    )
    gr.Markdown(default_note(ctx, task), elem_id=f"{elem_id}-default")
    note = gr.Markdown(model_note(ctx.registry, default.id if default else None), elem_id=f"{elem_id}-note")
    model.change(lambda m: model_note(ctx.registry, m), [model], [note], api_visibility="private", queue=False)
    return model
