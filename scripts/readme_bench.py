"""Copy the latest bench/results/*.md tables into README.md between the bench markers.

Run ``python -m scripts.readme_bench``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def main() -> None:
    parts = []
    for name in ("upscale", "inpaint", "generate", "composite"):
        path = ROOT / "bench" / "results" / f"{name}.md"
        if path.is_file():
            lines = path.read_text().strip().splitlines()
            parts.append("\n".join("##" + ln if ln.startswith("#") else ln for ln in lines))  # nest headings
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n" + "\n\n".join(parts) + "\n" + text[stop:])


if __name__ == "__main__":
    main()
