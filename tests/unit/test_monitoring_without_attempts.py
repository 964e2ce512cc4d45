"""``savedesk monitor`` on an extract without the optional ``save_attempts`` table: it reports what it can."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from features.view import scan_tables
from models.desk_outcomes import desk_outcomes
from pipelines.monitor import NO_ATTEMPTS, desk_history
from sources.folders import WorkspaceFolders
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler
from sources.validation import validate_workspace


@pytest.mark.slow
def test_desk_history_without_save_attempts_counts_nothing_and_says_so(tmp_path: Path) -> None:
    write_hauler(simulate_hauler(SimulationConfig(accounts=400, months=15, seed=4)), tmp_path)
    for path in (tmp_path / "raw").glob("save_attempts.*"):
        path.unlink()
    folders = WorkspaceFolders(raw=tmp_path / "raw", clean=tmp_path / "clean", rejects=tmp_path / "rejects")
    assert not validate_workspace(folders).fatal
    tables = scan_tables(tmp_path / "clean")
    assert "save_attempts" not in tables and "cancellation_requests" in tables
    decisions, attempts, window = desk_history(tables, date(2026, 10, 31), 90)
    assert decisions.empty and attempts.empty and window[1] == date(2026, 8, 2)
    outcomes = desk_outcomes(decisions, attempts, min_requests=30, min_rollbacks=20)
    assert outcomes.totals["requests"] == 0 and outcomes.by_offer.empty
    assert "save_attempts" in NO_ATTEMPTS
