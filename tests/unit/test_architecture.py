"""The floor plan holds: imports point one way, no module is part of an import cycle, each concept is spelled once.

``lint-imports`` (``make imports``) checks the layer contracts of ``pyproject.toml``; these tests add what a
contract cannot say: no cycle between any two modules at all (not only siblings), and that the literals naming a
shared concept appear in exactly one module of the packages.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sources", "features", "models", "serving", "pipelines")
LAYERS = {name: rank for rank, name in enumerate(PACKAGES)}


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=False)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_is_part_of_an_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_sees_a_cycle() -> None:
    """Guard: the same finder reports a cycle made on purpose (so the test above can fail)."""
    graph = _graph()
    graph.add_import(importer="sources.contract", imported="serving.api")
    graph.add_import(importer="serving.api", imported="sources.contract")
    assert any({"sources.contract", "serving.api"} <= set(c) for c in _cycles(graph))


def test_every_import_points_down_the_layers() -> None:
    graph = _graph()
    upward = [
        (importer, imported)
        for importer in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
        if LAYERS[imported.split(".")[0]] > LAYERS[importer.split(".")[0]]
    ]
    assert upward == []


def test_the_import_contracts_hold() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-4000:]


def _sources() -> dict[str, str]:
    return {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


@pytest.mark.parametrize(
    ("pattern", "home"),
    [
        (r"[\"']savedesk-(?:churn|save)[\"']", "models/names.py"),
        (r"[\"']inbound\.parquet[\"']|[\"']talking_points\.parquet[\"']", "serving/publication/catalog.py"),
        (r"[\"']manifest\.json[\"']", "serving/publication/catalog.py"),
        (r"[\"']renewal_rate_lock[\"'],\s*[\"']flip[\"']", "sources/vocabulary.py"),
        (r"[\"']contact_name[\"'],|[\"']street_address[\"'],", None),
        (r"[\"']Holds[\"']", "models/point_wording.py"),
    ],
)
def test_a_shared_concept_is_spelled_in_one_module(pattern: str, home: str | None) -> None:
    """Model names, the published day's files, the offer list, PII columns and point labels: one module each."""
    spelled = sorted(path for path, text in _sources().items() if re.search(pattern, text))
    assert spelled == ([home] if home else []), spelled
