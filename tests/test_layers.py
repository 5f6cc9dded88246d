"""The package's layering (docs/architecture.md), read from the source: no import cycle between archtune's
packages, no package importing one of a higher layer, and the library never importing its experiments
(``experiments/archtune_experiments``, the layer above everything). Imports inside functions count too: a
lazy import is still a dependency."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "archtune"
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments" / "archtune_experiments"

#: low to high; a package may import its own layer and the layers below (keep docs/architecture.md in step)
LAYERS: list[set[str]] = [
    {"errors", "registry", "progress"},
    {"surrogate", "storage", "execute", "profile", "nets", "datasets"},
    {"space"},
    {"strategy", "evaluate"},
    {"search", "naap", "nss"},
    {"spaces"},
    {"report", "export", "demo", "oneshot", "bench"},
    {"cli", "__init__"},
]
LAYER_OF = {name: k for k, layer in enumerate(LAYERS) for name in layer}


def unit_of(path: Path, package: Path = PACKAGE) -> str:
    """The package (or top-level module) a source file belongs to: ``bench``, ``errors``, ``__init__``."""
    rel = path.relative_to(package)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports(path: Path) -> list[tuple[str, int]]:
    """(module, line) of every absolute import statement of a source file, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, str]]:
    """unit -> {imported unit: "file:line" of one such import}, every import statement in the package."""
    graph: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(package.rglob("*.py")):
        source = unit_of(path, package)
        for name, line in imports(path):
            parts = name.split(".")
            if parts[0] == package.name and len(parts) > 1 and parts[1] != source:
                graph[source].setdefault(parts[1], f"{path.relative_to(package.parent)}:{line}")
    return graph


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def upward_imports(graph: dict[str, dict[str, str]]) -> list[str]:
    """Every import of a higher layer's package, as a readable line."""
    return [
        f"{src} (layer {LAYER_OF[src]}) imports {dst} (layer {LAYER_OF[dst]}) at {where}"
        for src, targets in graph.items()
        for dst, where in targets.items()
        if LAYER_OF[dst] > LAYER_OF[src]
    ]


def test_every_package_has_a_layer():
    units = {unit_of(p) for p in PACKAGE.rglob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")
    }
    assert units - set(LAYER_OF) == set(), "add the new package to LAYERS and to docs/architecture.md"


def test_no_import_cycle_between_packages():
    assert cycles(import_graph()) == []


def test_no_package_imports_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_the_checks_see_a_cycle_and_an_upward_import():
    # the detector itself: a made-up graph with a cycle through three units, and one upward edge
    graph = {"space": {"strategy": "x:1"}, "strategy": {"search": "x:2"}, "search": {"space": "x:3"}}
    assert cycles(graph) == [["search", "space", "strategy"]]
    assert cycles({"space": {"errors": "x:1"}}) == []
    assert upward_imports(graph) == [
        "space (layer 2) imports strategy (layer 3) at x:1",
        "strategy (layer 3) imports search (layer 4) at x:2",
    ]
    assert upward_imports({"search": {"space": "x:3"}}) == []


def test_the_library_never_imports_its_experiments():
    # the experiments' commands reach the CLI through the archtune.commands entry point, not an import
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name, line in imports(path)
        if name.split(".")[0] == EXPERIMENTS.name
    ]
    assert found == []


def test_no_import_cycle_between_experiment_folders():
    graph = import_graph(EXPERIMENTS)
    assert "tabular" in graph["cli"]  # the reader sees the experiments' imports
    assert cycles(graph) == []


def test_the_experiments_commands_join_the_cli_through_the_entry_point():
    from importlib.metadata import entry_points

    from archtune.cli import COMMANDS_GROUP, EXPERIMENT_COMMANDS, build_parser

    assert [e.value for e in entry_points(group=COMMANDS_GROUP)] == ["archtune_experiments.cli:add_commands"]
    parser = build_parser()
    minimal = {
        "bench": ["bench", "nb201"],
        "naap": ["naap", "baseline"],
        "nss": ["nss"],
        "tnas": ["tnas", "oneshot"],
    }
    for command in EXPERIMENT_COMMANDS:
        assert parser.parse_args(minimal[command]).command == command


def test_a_library_without_its_experiments_says_how_to_install_them(monkeypatch, capsys):
    # archtune installed alone (pip install archtune): no entry point adds the experiments' commands
    import archtune.cli as cli

    monkeypatch.setattr(cli, "_plugin_commands", lambda: [])
    assert cli.main(["bench", "nb201"]) == 2
    err = capsys.readouterr().err
    assert "'archtune bench'" in err and "pip install -e experiments" in err
