"""The layout holds: no import cycle anywhere, the product never imports the lab,
the domain imports only the standard library, and ARCHITECTURE.md maps the tree."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("ivr", "web", "lab", "cli")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True)


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm over the project's modules: every group of mutual importers."""
    ours = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child.split(".")[0] not in PACKAGES:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for module in ours:
        if module not in index:
            visit(module)
    return groups


def test_no_import_cycle_among_the_projects_modules(graph: grimp.ImportGraph) -> None:
    assert strongly_connected(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    g = grimp.ImportGraph()
    for m in ("ivr", "ivr.a", "ivr.b", "ivr.c"):
        g.add_module(m)
    g.add_import(importer="ivr.a", imported="ivr.b")
    g.add_import(importer="ivr.b", imported="ivr.c")
    g.add_import(importer="ivr.c", imported="ivr.a")
    assert strongly_connected(g) == [["ivr.a", "ivr.b", "ivr.c"]]


def test_the_product_never_imports_the_lab_or_the_cli(graph: grimp.ImportGraph) -> None:
    for importer in sorted(graph.modules):
        if importer.split(".")[0] not in ("ivr", "web"):
            continue
        bad = {m for m in graph.find_modules_directly_imported_by(importer)}
        bad = {m for m in bad if m.split(".")[0] in ("lab", "cli")}
        assert not bad, f"{importer} imports {sorted(bad)}"


def test_agi_scripts_import_only_the_product() -> None:
    for script in (REPO / "agi_scripts").glob("*.py"):
        text = script.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import)\s+(lab|cli)\b", text, re.M), script


def test_the_domain_imports_only_the_standard_library(graph: grimp.ImportGraph) -> None:
    for importer in sorted(graph.modules):
        if not importer.startswith("ivr.domain"):
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            top = imported.split(".")[0]
            assert imported.startswith("ivr.domain") or top in sys.stdlib_module_names, (
                f"{importer} imports {imported}"
            )


def _project_folders() -> set[str]:
    """Every top-level folder, and every folder holding Python code."""
    skip = ("__pycache__", "var", "node_modules")
    out = set()
    for p in REPO.rglob("*"):
        rel = p.relative_to(REPO)
        if not p.is_dir() or any(x.startswith(".") or x in skip for x in rel.parts):
            continue
        if rel.parts[0].endswith(".egg-info"):
            continue
        if len(rel.parts) == 1 or any(p.glob("*.py")):
            out.add(rel.as_posix())
    return out


def test_architecture_md_opens_with_a_map_of_every_folder() -> None:
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    tree = text.split("```", 2)[1]  # the first code block is the map
    listed = {line.split()[0].rstrip("/") for line in tree.splitlines() if line.strip()}
    missing = sorted(_project_folders() - listed)
    stale = sorted(f for f in listed if not (REPO / f).is_dir())
    assert not missing, f"folders missing from ARCHITECTURE.md's map: {missing}"
    assert not stale, f"ARCHITECTURE.md's map names what is not there: {stale}"
