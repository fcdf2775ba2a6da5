"""The domain package's import graph keeps its layers: no cycle, no import upward.

Layers, lowest first (ARCHITECTURE.md draws them):
kernel (errors, clock, config, logging, request checks) → models → store / bigcommerce (AWS and the
store's API) → services (the capabilities: orders, connector, shipments, mapping, policies,
fulfillment, flows) → api / steps (what a Lambda handler calls). A module may import its own layer
or a lower one; the handlers in functions/ sit above them all, and the tooling (the local runtime,
the CLI) outside the deployed package.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = ROOT / "layers" / "common" / "python"

KERNEL = {"errors", "problems", "clock", "config", "observability", "retries", "inbound"}
LAYERS: dict[str, int] = {
    **dict.fromkeys(KERNEL, 0),
    "models": 1,
    "store": 2,
    "bigcommerce": 2,
    **dict.fromkeys(
        [
            "mapping",
            "policies",
            "orders",
            "shipments",
            "fulfillment",
            "returns",
            "connector",
            "flows",
            "accounting",
        ],
        3,
    ),
    "api": 4,
    "steps": 4,
}
LAYER_NAMES = {0: "kernel", 1: "models", 2: "store/bigcommerce", 3: "services", 4: "api/steps"}
TOOLING = ("orderflow_local", "orderflow_cli")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The package's modules `path` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def graph(root: Path, package: str) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    known = set(files)
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = imports_of(path, name, known)
        edges[name] = {t for t in targets if t.split(".")[0] in (package, *TOOLING)}
    return edges


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node, or a node importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    return graph(PACKAGE_ROOT, "orderflow")


def test_every_module_of_the_package_has_a_layer(edges):
    unplaced = sorted(m for m in edges if m != "orderflow" and top(m) not in LAYERS)
    assert not unplaced, f"give these modules a layer in {__file__}: {unplaced}"


def test_no_module_imports_a_higher_layer(edges):
    upward = [
        f"{source} ({LAYER_NAMES[LAYERS[top(source)]]}) imports {target} ({LAYER_NAMES[LAYERS[top(target)]]})"
        for source, targets in edges.items()
        for target in targets
        if top(source) in LAYERS and top(target) in LAYERS and LAYERS[top(target)] > LAYERS[top(source)]
    ]
    assert not upward, "imports upward:\n" + "\n".join(sorted(upward))


def test_the_module_graph_has_no_cycle(edges):
    assert cycles(edges) == []


def test_the_capabilities_depend_on_each_other_without_a_cycle(edges):
    packages: dict[str, set[str]] = defaultdict(set)
    for source, targets in edges.items():
        for target in targets:
            if top(source) != top(target) and top(target):
                packages[top(source)].add(top(target))
    assert cycles(packages) == []


def test_the_deployed_package_never_imports_the_tooling(edges):
    into_tooling = sorted(
        f"{source} imports {target}"
        for source, targets in edges.items()
        for target in targets
        if target.split(".")[0] in TOOLING
    )
    assert not into_tooling


def test_a_handler_imports_the_package_and_no_tooling():
    for app in sorted(ROOT.glob("functions/*/app.py")):
        imported = imports_of(app, "app", set())
        assert not [m for m in imported if m.split(".")[0] in TOOLING], app
        assert any(m.startswith("orderflow.") for m in imported), app


def test_the_check_finds_a_cycle_and_an_upward_import(tmp_path):
    """The walk itself: a package made to break both rules is caught."""
    package = tmp_path / "orderflow"
    (package / "models").mkdir(parents=True)
    (package / "store").mkdir()
    (package / "__init__.py").write_text("")
    (package / "models" / "__init__.py").write_text("")
    (package / "store" / "__init__.py").write_text("")
    (package / "models" / "order.py").write_text("from orderflow.store.orders import OrderRepository\n")
    (package / "store" / "orders.py").write_text("from orderflow.models.order import Order\n")
    made = graph(tmp_path, "orderflow")
    assert cycles(made) == [["orderflow.models.order", "orderflow.store.orders"]]
    assert "orderflow.store.orders" in made["orderflow.models.order"]
    assert LAYERS[top("orderflow.store.orders")] > LAYERS[top("orderflow.models.order")]
