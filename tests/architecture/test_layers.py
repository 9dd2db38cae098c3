"""The import rules of docs/architecture.md: a module imports only its own layer or lower ones.

Every ``import`` statement counts, including those inside functions (lazy imports are still
dependencies). Producers are siblings: none imports another.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "attnflow"

# Lowest first. A module may import modules of its own rank or lower.
LAYERS: dict[str, tuple[int, tuple[str, ...]]] = {
    "core": (
        0,
        (
            "attnflow",
            "attnflow._validate",
            "attnflow._docs",
            "attnflow.dynamics",
            "attnflow.errors",
            "attnflow.init",
            "attnflow.integrate",
            "attnflow.io",
            "attnflow.progress",
            "attnflow.random",
            "attnflow.simulation",
            "attnflow.theory",
            "attnflow.trajectory",
        ),
    ),
    "measure": (1, ("attnflow.measure",)),
    "producers": (2, ("attnflow.meanfield", "attnflow.lm", "attnflow.inference", "attnflow.paths")),
    "viz": (3, ("attnflow.viz",)),
    "experiments": (4, ("attnflow.experiments",)),
    "sweep": (5, ("attnflow.sweep",)),
    "cli": (6, ("attnflow.cli", "attnflow.explore")),
}


def layer_of(module: str) -> tuple[str, int, str]:
    """(layer, rank, top-level unit) of a dotted module name inside attnflow."""
    best = None
    for layer, (rank, prefixes) in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best[2])
            ):
                best = (layer, rank, prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer of docs/architecture.md; add it to LAYERS")
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("attnflow"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "attnflow":
                names.update(f"attnflow.{a.name}" for a in node.names)
            elif node.module.startswith("attnflow."):
                names.add(node.module)
    return names


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        if source == "attnflow":
            continue  # the facade: it reaches every subpackage lazily, by design
        layer, rank, unit = layer_of(source)
        for target in sorted(imported(ast.parse(path.read_text(encoding="utf-8")))):
            if target.split(".")[-1][:1].isupper() or target == "attnflow.__version__":
                target = target.rsplit(".", 1)[0]  # `from attnflow import Trajectory`: a name, not a module
            t_layer, t_rank, t_unit = layer_of(target)
            if t_rank > rank:
                found.append(f"{source} ({layer}) imports {target} ({t_layer})")
            elif layer == "producers" and t_layer == "producers" and t_unit != unit:
                found.append(f"{source} imports the sibling producer {target}")
    return found


def test_no_module_imports_a_higher_layer() -> None:
    assert violations() == []


def test_the_rule_catches_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = ast.parse("def f():\n    from attnflow.viz import plot_cloud\n")
    assert imported(tree) == {"attnflow.viz"}
    assert layer_of("attnflow.meanfield.solver")[1] < layer_of("attnflow.viz.clouds")[1]
    assert layer_of("attnflow.measure.energy")[1] < layer_of("attnflow.lm.trace")[1]


def test_every_module_has_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer_of(module_name(path))
