"""Fixtures for the notebook tests: a small hauler, trained and published, and a kernel of this environment.

The workspace is what ``make demo`` leaves behind, at test size: a simulated
hauler with champion churn and save models (gates relaxed: these tests judge the
notebooks, not the models) and one night's published lists, made by the nightly
flow under a Prefect test harness. It is built once per test session and shared
by the xdist workers (a file lock decides who builds it); every test runs its
notebook on its own copy, so a notebook that writes (MLflow runs) cannot disturb
another.
"""

# ruff: noqa: E402  (Prefect and MLflow read their environment at import)

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

_HOME = tempfile.mkdtemp(prefix="savedesk-prefect-")
os.environ.setdefault("PREFECT_HOME", _HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

RELAXED_GATES = "[churn.gate]\nmin_auc = 0.55\n\n[save.gate]\nmin_auc = 0.6\nmax_ece = 0.25\n"


def build_workspace(path: Path) -> dict[str, object]:
    """Simulate, train both models and run the nightly flow once: the workspace the notebooks read."""
    from prefect.testing.utilities import prefect_test_harness

    from pipelines.flows import configured, nightly
    from pipelines.settings import load_settings

    shutil.rmtree(path, ignore_errors=True)  # a build that failed half-way in another worker
    write_hauler(simulate_hauler(SimulationConfig(accounts=4_000, months=24, seed=21)), path)
    (path / "savedesk.toml").write_text(RELAXED_GATES)
    result = CliRunner().invoke(app, ["train", "--data", str(path)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "savedesk-churn v1 (models:/savedesk-churn/1): promoted" in output, result.output
    assert "savedesk-save v1 (models:/savedesk-save/1): promoted" in output, result.output
    with prefect_test_harness(server_startup_timeout=180):
        summary = configured(nightly, load_settings(path))(str(path))
    return {k: v for k, v in summary.items() if isinstance(v, str | int | float)}


@pytest.fixture(scope="session")
def published_hauler(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared workspace, built by the first worker that needs it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by every worker of this session
    path, done = root / "notebook-hauler", root / "notebook-hauler.json"
    with (root / "notebook-hauler.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():
            done.write_text(json.dumps(build_workspace(path)))
    return path


@pytest.fixture
def workspace(published_hauler: Path, tmp_path: Path) -> Path:
    """This test's own copy of the shared workspace."""
    copy = tmp_path / "workspace"
    shutil.copytree(published_hauler, copy, symlinks=True, ignore=shutil.ignore_patterns("prefect", "*.lock"))
    return copy


@pytest.fixture(scope="session")
def kernel_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Jupyter, IPython and matplotlib folders in a temp dir, and a ``python3`` kernelspec of this interpreter.

    The kernelspec found first on ``JUPYTER_PATH`` runs ``sys.executable``, so the
    notebooks run in the project's environment whatever kernels the machine has.
    """
    from ipykernel.kernelspec import install

    home = tmp_path_factory.mktemp("kernel-home")
    install(prefix=str(home / "prefix"), kernel_name="python3")
    return {
        "JUPYTER_PATH": str(home / "prefix" / "share" / "jupyter"),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "MPLBACKEND": "Agg",
    }
