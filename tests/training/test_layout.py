"""Tests of training code live here and carry the ``training`` marker; no other test imports ``training``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.training

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent


def _imports_training(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "training" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "training":
            return True
    return False


def _marked_training(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        and ast.unparse(node.value) == "pytest.mark.training"
        for node in tree.body
    )


def test_every_training_test_module_is_marked():
    unmarked = [p.name for p in sorted(HERE.glob("test_*.py")) if not _marked_training(ast.parse(p.read_text()))]
    assert not unmarked, f"add `pytestmark = pytest.mark.training` to {unmarked}"


def test_no_test_outside_tests_training_imports_training():
    outside = [
        str(p.relative_to(TESTS))
        for p in sorted(TESTS.rglob("test_*.py"))
        if HERE not in p.parents and _imports_training(ast.parse(p.read_text()))
    ]
    assert not outside, f"tests of training code belong in tests/training/: {outside}"
