"""Pillow's own test images (fuzzer finds, broken EXIF, exotic TIFF, bombs) through the CLI: every file is
written, or refused with one line of our own words; never a traceback, a library warning or a path.

The images come from the Pillow 12.0.0 sdist on the package index, fetched once like any dependency and
checked against its sha256.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import urllib.request
from pathlib import Path

import pytest

import cli

ROOT = Path(__file__).resolve().parents[2]
SDIST = "pillow-12.0.0.tar.gz"
SDIST_SHA256 = "87d4f8125c9988bfbed67af47dd7a953e2fc7b0cc1e7800ec6d2080d490bb353"
INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def _sdist(cache: Path) -> Path:
    path = cache / SDIST
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == SDIST_SHA256:
        return path
    page = urllib.request.urlopen(f"{INDEX}/pillow/", timeout=60).read().decode()
    found = re.search(r'href="([^"]*/' + re.escape(SDIST) + r')[^"]*"', page)
    assert found, f"{SDIST} is not listed on {INDEX}/pillow/"
    data = urllib.request.urlopen(found.group(1), timeout=300).read()
    assert hashlib.sha256(data).hexdigest() == SDIST_SHA256, "the sdist is not the pinned file"
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def corpus() -> list[Path]:
    cache = Path(os.environ.get("GANVAS_TEST_CACHE", ROOT / ".cache" / "test-data"))
    images = cache / "pillow-12.0.0" / "Tests" / "images"
    if not images.is_dir():
        with tarfile.open(_sdist(cache)) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("pillow-12.0.0/Tests/images/")]
            tar.extractall(cache, members=members, filter="data")
    files = sorted(p for p in images.rglob("*") if p.is_file())
    assert len(files) > 700
    return files


@pytest.mark.slow  # about a thousand files
def test_every_pillow_test_image_is_written_or_refused_in_one_line(corpus, tmp_path, capfd):
    bad = []
    written = refused = 0
    for i, src in enumerate(corpus):
        out = tmp_path / f"{i}.png"
        try:
            rc = cli.main(["upscale", str(src), "-o", str(out), "--model", "nearest", "--scale", "1"])
        except BaseException as exc:  # noqa: BLE001 - any escape is the failure this test looks for
            bad.append(f"{src.name}: raised {type(exc).__name__}: {exc}"[:300])
            capfd.readouterr()
            continue
        err = capfd.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        others = [line for line in lines if not line.startswith(("error: ", "note: "))]
        if rc == 0 and out.is_file() and not errors and not others:
            written += 1
        elif rc == 2 and len(errors) == 1 and not others and str(src.parent) not in err and "Errno" not in err:
            refused += 1
        else:
            bad.append(f"{src.name}: exit {rc}, stderr {err[-300:]!r}")
    assert not bad, f"{len(bad)} files misbehaved:\n" + "\n".join(bad)
    assert written > 700 and refused > 100  # 735 and 318 of 1,053: the formats Ganvas does not read are refused
