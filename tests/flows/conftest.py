"""Fixtures for the flow tests: one Prefect test harness for the session and a trained small hauler.

The harness starts Prefect's temporary server once (20-40 s on a busy machine);
every flow test runs against it. The workspace is a small simulated hauler with
both models trained and promoted (gates relaxed: these tests judge the flows,
not the models).
"""

# ruff: noqa: E402  (Prefect and MLflow read their environment at import)

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_HOME = tempfile.mkdtemp(prefix="savedesk-prefect-")
os.environ.setdefault("PREFECT_HOME", _HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

import pytest
from prefect.testing.utilities import prefect_test_harness
from typer.testing import CliRunner

from pipelines.cli import app
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

RELAXED_GATES = "[churn.gate]\nmin_auc = 0.55\n\n[save.gate]\nmin_auc = 0.6\nmax_ece = 0.25\n"


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server for every flow test."""
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated hauler with champion churn and save models, and no price drift of its own (random territory
    surcharges off: a clean night must send no drift alert)."""
    path = tmp_path_factory.mktemp("nightly")
    write_hauler(simulate_hauler(SimulationConfig(accounts=4_000, months=24, seed=21, surcharges=False)), path)
    (path / "savedesk.toml").write_text(RELAXED_GATES)
    result = CliRunner().invoke(app, ["train", "--data", str(path)])
    assert result.exit_code == 0, result.output
    assert "savedesk-churn v1 (models:/savedesk-churn/1): promoted" in " ".join(result.output.split())
    assert "savedesk-save v1 (models:/savedesk-save/1): promoted" in " ".join(result.output.split())
    return path
