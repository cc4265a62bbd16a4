"""The layout's rules that import-linter's contracts cannot state: the protocol and the child
import the standard library alone (an allow-list, not a list of forbidden packages), and no
module of the project imports itself back through others (no import cycle)."""

from __future__ import annotations

import graphlib
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


def _cycle(graph: grimp.ImportGraph) -> list[str]:
    """An import cycle among our modules (each import from one to the next, the last back to
    the first), or [] when there is none: the standard library's topological sorter finds it."""
    ours = sorted(m for m in graph.modules if m.startswith(OURS))
    imports = {
        m: [i for i in graph.find_modules_directly_imported_by(m) if i.startswith(OURS)]
        for m in ours
    }
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as exc:
        # The sorter gives the cycle with each module imported by the next one, the first
        # repeated at the end: reversed, each imports the next.
        cycle: list[str] = exc.args[1]
        return cycle[:0:-1]
    return []


def test_there_is_no_import_cycle(graph: grimp.ImportGraph) -> None:
    assert _cycle(graph) == []


def test_the_cycle_check_can_fail() -> None:
    toy = grimp.ImportGraph()
    for a, b in (
        ("veritas.a", "veritas.b"),
        ("veritas.b", "veritas.c"),
        ("veritas.c", "veritas.a"),
    ):
        toy.add_import(importer=a, imported=b)
    toy.add_import(importer="veritas.d", imported="veritas.a")
    cycle = _cycle(toy)
    # the cycle in import order, from whichever module the sorter met first, nothing else
    assert sorted(cycle) == ["veritas.a", "veritas.b", "veritas.c"]
    start = cycle.index("veritas.a")
    assert cycle[start:] + cycle[:start] == ["veritas.a", "veritas.b", "veritas.c"]
