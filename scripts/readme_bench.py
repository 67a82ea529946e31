"""Copy the latest bench/results/*.md tables into README.md between the bench markers (the defaults bench, which
explains the start-up defaults, between markers of its own in the Models section).

Run ``python -m scripts.readme_bench``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
DEFAULTS_BEGIN, DEFAULTS_END = "<!-- bench-defaults:begin -->", "<!-- bench-defaults:end -->"


def _table(name: str) -> str | None:
    """bench/results/{name}.md with its headings nested one level deeper, or None when it is missing."""
    path = ROOT / "bench" / "results" / f"{name}.md"
    if not path.is_file():
        return None
    lines = path.read_text().strip().splitlines()
    return "\n".join("##" + ln if ln.startswith("#") else ln for ln in lines)


def _between(text: str, begin: str, end: str, body: str) -> str:
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[:start] + "\n" + body + "\n" + text[stop:]


def main() -> None:
    names = (
        "upscale",
        "upscale-illustrations",
        "precision",
        "inpaint",
        "inpaint-held-out",
        "generate",
        "composite",
        "cutout-speed",
    )
    parts = [t for t in map(_table, names) if t is not None]
    readme = ROOT / "README.md"
    text = _between(readme.read_text(), BEGIN, END, "\n\n".join(parts))
    defaults = _table("defaults")
    if defaults is not None:
        # below a "###" section: the table's own heading goes, its text stays
        text = _between(text, DEFAULTS_BEGIN, DEFAULTS_END, defaults.split("\n", 1)[1].strip())
    readme.write_text(text)


if __name__ == "__main__":
    main()
