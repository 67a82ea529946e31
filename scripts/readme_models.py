"""Print (or write into README.md) what the registry says about the models: the model table, the defaults per
device (both between markers) and the Space's ``preload_from_hub`` list in the front matter.

Run ``python -m scripts.readme_models`` to print them, ``python -m scripts.readme_models --write`` to update
README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from models.catalog import default_registry
from models.defaults import BY_SCALE, MODE_ENV, PREFERENCES, describe_rule, env_var
from models.registry import EmbeddedFile, HubFile, Task

ROOT = Path(__file__).resolve().parent.parent

BEGIN, END = "<!-- models:begin -->", "<!-- models:end -->"
DEFAULTS_BEGIN, DEFAULTS_END = "<!-- defaults:begin -->", "<!-- defaults:end -->"
PRELOAD_KEY = "preload_from_hub:"


def table() -> str:
    reg = default_registry()
    rows = ["| id | task | model | weights | licence | default |", "|---|---|---|---|---|---|"]
    for task in Task:
        default = reg.default_for(task)
        for s in reg.list(task):
            src = s.source
            if isinstance(src, HubFile):
                where = f"[Hub]({src.url})"
            elif isinstance(src, EmbeddedFile):
                where = f"embedded ([card](assets/{src.card}))" if src.card else "embedded"
            else:
                where = src.describe()
            scale = f" x{s.scale}" if task == Task.UPSCALE and s.scale else ""
            mark = "yes" if default is not None and default.id == s.id else ""
            rows.append(f"| `{s.id}` | {task.value}{scale} | {s.title} | {where} | {s.license} | {mark} |")
    return "\n".join(rows)


#: How a task's model is chosen where it is not by its environment variable or a command's ``--model``.
CHOSEN_BY = {Task.FILTER: "the recipe step's `model`"}


def defaults_table() -> str:
    """Which model each task starts on, per device: the Hub candidates best first, then the offline fallback."""
    reg = default_registry()
    rows = [
        "| task | GPU (best first) | CPU (best first) | offline fallback | set it |",
        "|---|---|---|---|---|",
    ]
    for task in Task:
        prefs = PREFERENCES.get(task, {})
        gpu, cpu = (", then ".join(f"`{i}`" for i in prefs.get(kind, ())) or "-" for kind in ("gpu", "cpu"))
        fallback = reg.default_for(task)
        chosen = CHOSEN_BY.get(task, f"`{env_var(task)}` or `--model`")
        rule = [(limit, f"`{model_id}`") for limit, model_id in BY_SCALE.get(task, ())]
        offline = describe_rule(rule) or f"`{fallback.id if fallback else '-'}`"  # by output scale, or one model
        rows.append(f"| {task.value} | {gpu} | {cpu} | {offline} | {chosen} |")
    rows.append("")
    rows.append(
        "A candidate whose file is in the local Hugging Face cache comes first; else, when the Hub answers within "
        f"a few seconds (never asked under `HF_HUB_OFFLINE=1`), the first candidate; else the fallback. "
        f"`{MODE_ENV}=offline` starts on the fallbacks."
    )
    return "\n".join(rows)


def preload_entries() -> list[str]:
    """The Space's ``preload_from_hub`` items: every default candidate's pinned file, as "repo files revision"
    (files of one repo and revision joined by commas), in registry order."""
    reg = default_registry()
    wanted = {i for kinds in PREFERENCES.values() for ids in kinds.values() for i in ids}
    groups: dict[tuple[str, str], list[str]] = {}
    for spec in reg:
        src = spec.source
        if spec.id in wanted and isinstance(src, HubFile):
            files = groups.setdefault((src.repo_id, src.revision), [])
            if src.filename not in files:
                files.append(src.filename)
    return [f"{repo} {','.join(files)} {rev}" for (repo, rev), files in groups.items()]


def front_matter(text: str) -> str:
    """``text`` with its front matter's ``preload_from_hub`` list replaced by :func:`preload_entries`."""
    lines = text.split("\n")
    if lines[0] != "---" or "---" not in lines[1:]:
        raise ValueError("README.md has no front matter")
    end = lines.index("---", 1)
    head = lines[1:end]
    if PRELOAD_KEY in head:  # drop the old list: the key and its "- " items
        at = head.index(PRELOAD_KEY)
        stop = at + 1
        while stop < len(head) and head[stop].startswith("  - "):
            stop += 1
        head = head[:at] + head[stop:]
    head += [PRELOAD_KEY] + [f"  - {entry}" for entry in preload_entries()]
    return "\n".join(["---", *head, *lines[end:]])


def _between(text: str, begin: str, end: str, body: str) -> str:
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[:start] + "\n" + body + "\n" + text[stop:]


def render(text: str) -> str:
    """README.md's text with everything this script generates brought up to date."""
    text = _between(text, BEGIN, END, table())
    text = _between(text, DEFAULTS_BEGIN, DEFAULTS_END, defaults_table())
    return front_matter(text)


def update(readme: Path = ROOT / "README.md") -> bool:
    """Rewrite the generated parts of README.md; True when it changed."""
    text = readme.read_text()
    new = render(text)
    if new != text:
        readme.write_text(new)
    return new != text


if __name__ == "__main__":
    if "--write" in sys.argv:
        print("README.md updated" if update() else "README.md already current")
    else:
        print(table())
