"""The data-science notebooks run on a fresh workspace inside the time budget, and are committed clean."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("01-explore-hauler", "02-churn-model-iteration", "03-save-policy", "04-talking-points-review")
BUDGET_SECONDS = 120.0
PROBE = """
import json, sys
import matplotlib.pyplot as plt
for number in plt.get_fignums():
    plt.figure(number).canvas.draw()  # Agg renders nothing until asked: draw every figure once
print(json.dumps({"prefix": sys.prefix, "executable": sys.executable, "figures": len(plt.get_fignums()),
                  "backend": plt.get_backend()}))
"""
"""Appended to each notebook run: which Python ran it, and its figures drawn (plots that fail to render fail here)."""


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=nbformat.NO_CONVERT)


def production_model_untouched(workspace: Path) -> None:
    """Notebook 02 logs its variants to their own registered model; savedesk-churn keeps v1 as its only champion."""
    from pipelines.services import open_tracker
    from pipelines.settings import load_settings

    tracker = open_tracker(load_settings(workspace))
    versions = [int(v.version) for v in tracker.client.search_model_versions("name = 'savedesk-churn'")]
    assert versions == [1]
    champion = tracker.champion_version("savedesk-churn")
    assert champion is not None and champion.version == 1
    assert len(tracker.client.search_model_versions("name = 'savedesk-churn-notebook'")) >= 2
    assert tracker.alias_version("savedesk-churn-notebook", "champion") is None


AFTERWARDS: dict[str, Callable[[Path], None]] = {"02-churn-model-iteration": production_model_untouched}


def test_the_four_notebooks_are_there() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs_and_reads_its_workspace_from_the_environment(name: str) -> None:
    notebook = read(name)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for cell in code:
        assert cell.outputs == [], f"{name}: a code cell has outputs: {cell.source[:60]!r}"
        assert cell.execution_count is None, f"{name}: a code cell has an execution count"
    assert 'DATA = Path(os.environ.get("SAVEDESK_DATA", "data/demo"))' in code[0].source
    assert re.search(r"from pipelines\.settings import [^\n]*\bload_settings\b", "\n".join(c.source for c in code))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_a_fresh_workspace_within_two_minutes(
    name: str, workspace: Path, kernel_home: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    for key, value in {**kernel_home, "SAVEDESK_DATA": str(workspace), "HOME": str(home)}.items():
        monkeypatch.setenv(key, value)
    notebook = read(name)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(notebook, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    print(f"{name}: {seconds:.1f} s (4,000-account hauler)")  # noqa: T201  (a figure to read with -s or -rP)

    probe = json.loads(notebook.cells[-1].outputs[0]["text"])
    assert probe["prefix"] == sys.prefix, f"the kernel ran {probe['executable']}, not this environment's Python"
    assert probe["backend"].lower() == "agg" and probe["figures"] >= 1
    assert seconds <= BUDGET_SECONDS, f"{name} took {seconds:.0f} s, over the {BUDGET_SECONDS:.0f} s budget"
    assert not home.exists(), f"{name} wrote into $HOME: {sorted(p.name for p in home.iterdir())}"
    AFTERWARDS.get(name, lambda _: None)(workspace)
