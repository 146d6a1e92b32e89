"""The package rules of docs/ARCHITECTURE.md, checked on the source: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> top-level modules it must never import (statically, anywhere in its tree)
FORBIDDEN: dict[str, set[str]] = {
    "proto": {"edge", "cloud", "simulators", "models", "iiot"},
    "simulators": {"edge", "cloud", "models", "iiot"},
    # models may use the edge runtime: it evaluates exported files through the path that ships.
    "models": {"cloud", "iiot"},
    "edge": {"cloud", "models", "simulators", "iiot", "torch", "ultralytics", "faust", "aiokafka"},
    "cloud": {"edge", "models", "simulators", "iiot", "torch", "ultralytics"},
}


def imported_top_levels(path: Path) -> set[str]:
    """Top-level module names imported by one Python file (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _violations(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_top_levels(path) & FORBIDDEN[package]
        if bad:
            found.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_import_rules(package: str) -> None:
    assert (ROOT / package / "__init__.py").exists()
    assert _violations(package) == []


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nfrom cloud.bridge import x\nfrom . import sibling\n")
    assert imported_top_levels(bad) == {"torch", "cloud"}
