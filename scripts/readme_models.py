"""Print (or write into README.md between markers) the model table generated from the registry.

Run ``python -m scripts.readme_models`` to print it, ``python -m scripts.readme_models --write`` to update README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from models.catalog import default_registry
from models.registry import EmbeddedFile, HubFile, Task

ROOT = Path(__file__).resolve().parent.parent

BEGIN, END = "<!-- models:begin -->", "<!-- models:end -->"


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


def update(readme: Path = ROOT / "README.md") -> bool:
    """Rewrite the table in README.md; True when it changed."""
    text = readme.read_text()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + table() + "\n" + text[stop:]
    if new != text:
        readme.write_text(new)
    return new != text


if __name__ == "__main__":
    if "--write" in sys.argv:
        print("README.md updated" if update() else "README.md already current")
    else:
        print(table())
