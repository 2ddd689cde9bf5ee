"""The package's shape, checked: no import cycle between its modules, and nothing below the CLI imports it
(docs/ARCHITECTURE.md: cli -> stages -> shared)."""

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "hiddenparams"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """The package's modules `path` imports (a `from pkg import name` counts the submodule `name` when it is one)."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if MODULES.get(f"{base}.{alias.name}") else base)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name in MODULES}


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def graph(top_level_only: bool) -> nx.DiGraph:
    g = nx.DiGraph()
    for name, path in MODULES.items():
        g.add_node(name)
        g.add_edges_from((name, target) for target in imports(path, top_level_only) if target != name)
    # Importing a module runs its package's __init__ first: that edge is implied, not a cycle of the code's making.
    return g


@pytest.mark.parametrize("top_level_only", [True, False], ids=["at-import", "including-lazy-imports"])
def test_no_import_cycle(top_level_only):
    g = graph(top_level_only)
    cycles = [c for c in nx.simple_cycles(g) if not _through_own_package_init(c)]
    assert not cycles, "\n".join(" -> ".join([*c, c[0]]) for c in cycles[:10])


def _through_own_package_init(cycle: list[str]) -> bool:
    """A package's __init__ importing its own submodules, which import names from the package: Python's normal
    package shape (jobs/__init__ re-exports jobs.base), not a cycle between modules."""
    return len(cycle) == 2 and (cycle[0].startswith(cycle[1] + ".") or cycle[1].startswith(cycle[0] + "."))


def test_nothing_below_the_cli_imports_it():
    g = graph(top_level_only=False)
    cli = {name for name in MODULES if name.startswith("hiddenparams.cli")}
    outside = [(a, b) for a, b in g.edges if b in cli and a not in cli]
    assert not outside, outside


def test_the_stages_below_the_job_layer_never_import_it():
    """data/, model/ and eval/ are what a job runs; jobs/ plans and submits them, never the other way round."""
    g = graph(top_level_only=False)
    below = ("hiddenparams.data", "hiddenparams.model", "hiddenparams.eval")
    upward = [(a, b) for a, b in g.edges if a.startswith(below) and b.startswith("hiddenparams.jobs")]
    assert not upward, upward
