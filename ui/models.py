"""Choosing a model in a tab: the dropdown, its labels and note, and the chosen model's spec."""

from __future__ import annotations

import gradio as gr

from models.registry import ModelSpec, Registry, Task
from ui.context import AppContext

#: The dropdown value of "Automatic": the default for the output scale (models.defaults.BY_SCALE). No model
#: of a task with such a rule has this id.
AUTOMATIC = "auto"


def spec_for(
    ctx: AppContext, task: Task, model_id: str | None, missing: str | None = None, scale: float | None = None
) -> ModelSpec:
    """The chosen model's spec (or the task's default, as resolved at start-up, for ``scale`` where the task has
    a rule by scale; "auto" means the same); a model of another task is a plain error."""
    if model_id == AUTOMATIC and ctx.defaults.choice(task).by_scale:
        model_id = None
    return ctx.defaults.for_task(task, model_id, missing, scale)


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


def automatic_note(ctx: AppContext, task: Task) -> str:
    """The line under "Automatic": the rule by scale, what its models are, and their licences."""
    choice = ctx.defaults.choice(task)
    specs = list(dict.fromkeys(spec for _limit, spec in choice.by_scale))
    if not specs:
        return ""
    licences = "; ".join(dict.fromkeys(s.license for s in specs))
    return f"Picks the model for the output scale: {choice.rule_text()}. {specs[-1].description} *Licence: {licences}.*"


def default_note(ctx: AppContext, task: Task) -> str:
    """The line under a model dropdown that says which model is the default here and why."""
    return f"Default here: {ctx.defaults.choice(task).reason}."


def model_picker(ctx: AppContext, task: Task, default: ModelSpec | None, elem_id: str) -> gr.Dropdown:
    """The model dropdown of a tab, preselecting ``default`` (or "Automatic" first and preselected, where the
    task's default depends on the output scale), with the default's reason and the chosen model's note under it
    (the note updated on change, unqueued: it is a lookup, and must not wait behind a running job)."""
    choices = model_choices(ctx.registry, task)
    value = default.id if default else None
    rule = ctx.defaults.choice(task).rule_text()
    if rule:
        choices = [(f"Automatic: {rule} [offline]", AUTOMATIC), *choices]
        value = AUTOMATIC
    model = gr.Dropdown(choices, value=value, label="Model", elem_id=elem_id)
    gr.Markdown(default_note(ctx, task), elem_id=f"{elem_id}-default")

    def note_for(model_id: str | None) -> str:
        return automatic_note(ctx, task) if rule and model_id == AUTOMATIC else model_note(ctx.registry, model_id)

    note = gr.Markdown(note_for(value), elem_id=f"{elem_id}-note")
    model.change(note_for, [model], [note], api_visibility="private", queue=False)
    return model
