"""The layout's rules that import-linter's contracts cannot state: the protocol and the child
import the standard library alone (an allow-list, not a list of forbidden packages), and no
module of the project imports itself back through others (no import cycle)."""

from __future__ import annotations

import sys

import grimp
import pytest

#: The named exception: the test-only pixel fault redraws one pixel with Pillow.
ALLOWED_OUTSIDE = {("veritas.child.faults", "PIL")}
OURS = ("veritas", "harness")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*OURS, include_external_packages=True)


def test_the_protocol_and_the_child_import_only_the_standard_library(
    graph: grimp.ImportGraph,
) -> None:
    outside = sorted(
        (module, imported)
        for module in graph.modules
        if module.startswith(("veritas.protocol", "veritas.child"))
        for imported in graph.find_modules_directly_imported_by(module)
        if not imported.startswith(OURS)
        and imported.partition(".")[0] not in sys.stdlib_module_names
        and (module, imported) not in ALLOWED_OUTSIDE
    )
    assert outside == []


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), ours only."""
    nodes = sorted(m for m in graph.modules if m.startswith(OURS))
    edges = {
        m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i.startswith(OURS))
        for m in nodes
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in nodes:
        if node not in index:
            visit(node)
    return found


def test_there_is_no_import_cycle(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_cycle_check_can_fail() -> None:
    toy = grimp.ImportGraph()
    for a, b in (
        ("veritas.a", "veritas.b"),
        ("veritas.b", "veritas.c"),
        ("veritas.c", "veritas.a"),
    ):
        toy.add_import(importer=a, imported=b)
    toy.add_import(importer="veritas.d", imported="veritas.a")
    assert _cycles(toy) == [["veritas.a", "veritas.b", "veritas.c"]]
