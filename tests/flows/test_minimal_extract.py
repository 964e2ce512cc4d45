"""Issue 17's matrix: the minimal extract (accounts with id, start and close, and invoices) and the full
extract with each optional table, and the optional account columns, dropped in turn; each goes
``validate → features → train → evaluate → nightly`` to published lists through the ``savedesk`` command, as a
user runs it (one process per command), and no command prints a traceback.

The gates are relaxed (these tests judge that every optional input stays optional, not the models). No setting
stands in for what the extract lacks: the one territory an extract without territories gets is priced at the
documented default cost index, and the commands say so. The nightly runs against the session's Prefect server
(its API URL handed to the command), so a variant costs no server start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from prefect.settings import PREFECT_API_URL

from sources.contract import TABLES, table_info
from sources.extract_shape import COST_INDEX_SETTING
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

pytestmark = pytest.mark.slow

SETTINGS = "[churn.gate]\nmin_auc = 0.0\nmax_ece = 1.0\n\n[save.gate]\nmin_auc = 0.0\nmax_ece = 1.0\n"
OPTIONAL_TABLES = [name for name in TABLES if not table_info(name).required]
OPTIONAL_ACCOUNT_COLUMNS = [c for c, col in TABLES["accounts"].columns.items() if not col.required]
MINIMAL = "minimal"
VARIANTS = [MINIMAL, "no_account_columns", *(f"no_{name}" for name in OPTIONAL_TABLES)]
SAVEDESK = [sys.executable, "-m", "pipelines.cli"]
"""The ``savedesk`` command of this environment (what ``.venv/bin/savedesk`` runs)."""


@pytest.fixture(scope="module")
def full_extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated hauler: 1,500 accounts over 20 months."""
    path = tmp_path_factory.mktemp("full")
    write_hauler(simulate_hauler(SimulationConfig(accounts=1_500, months=20, seed=5)), path)
    return path


def variant(full: Path, target: Path, name: str) -> Path:
    """The full extract's raw folder with the variant's tables and columns deleted."""
    raw = target / "raw"
    raw.mkdir(parents=True)
    shutil.copy(full / "raw" / "extract.json", raw / "extract.json")
    keep = {"accounts", "invoices"} if name == MINIMAL else set(TABLES) - {name.removeprefix("no_")}
    for table in keep:
        frame = pd.read_parquet(full / "raw" / f"{table}.parquet")
        if table == "accounts" and name in (MINIMAL, "no_account_columns"):
            frame = frame.drop(columns=OPTIONAL_ACCOUNT_COLUMNS)
            if name == MINIMAL:
                frame = frame[["account_id", "start_date", "close_date"]]
        frame.to_parquet(raw / f"{table}.parquet", index=False)
    (target / "savedesk.toml").write_text(SETTINGS)
    return target


def savedesk(*args: str) -> subprocess.CompletedProcess[str]:
    """Run one ``savedesk`` command in its own process; its exit code and what it printed.

    The command reaches the session's Prefect server through ``PREFECT_API_URL``; anything a user's shell
    would not have (a pytest capture, an in-process log handler) stays out of it.
    """
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "COLUMNS": "200"}
    done = subprocess.run([*SAVEDESK, *args], capture_output=True, text=True, env=env, timeout=900, check=False)  # noqa: S603
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    assert done.returncode == 0, f"savedesk {' '.join(args)} exited {done.returncode}: {done.stderr[-3000:]}"
    return done


def said(done: subprocess.CompletedProcess[str]) -> str:
    """Everything a command printed (its standard output, then its error stream), in single spaces."""
    return " ".join((done.stdout + done.stderr).split())


@pytest.mark.parametrize("name", VARIANTS)
def test_every_optional_input_stays_optional_end_to_end(full_extract: Path, tmp_path: Path, name: str) -> None:
    data = str(variant(full_extract, tmp_path / name, name))
    validated = said(savedesk("validate", "--data", data))
    report = json.loads((tmp_path / name / "clean" / "validation.json").read_text())
    shape = report["extract_shape"]
    kept = {path.stem for path in (tmp_path / name / "raw").glob("*.parquet")}
    dropped = set(OPTIONAL_TABLES) - kept
    assert set(shape["absent_tables"]) == dropped
    # What was skipped is said once, in one sentence.
    complete = not shape["absent_tables"] and not shape["absent_columns"]
    assert validated.count("This extract is") == (0 if complete else 1)
    savedesk("features", "--data", data, "--as-of", "2026-10-31", "--out", str(tmp_path / name / "today.parquet"))
    trained = said(savedesk("train", "--data", data))
    assert "promoted to champion" in trained
    if "cancellation_requests" in dropped or "save_attempts" in dropped:
        assert "The save model was not trained" in trained
    figures = savedesk("evaluate", "--data", data, "--json").stdout
    assert "churn.auc" in json.loads(figures[figures.index("{") :])
    night = said(savedesk("nightly", "--data", data))
    published = sorted((tmp_path / name / "published").glob("*/manifest.json"))
    assert published, f"no lists were published: {night[-2000:]}"
    manifest = json.loads(published[-1].read_text())
    assert manifest["rows"]["proactive"] > 0
    assert not manifest.get("left_out"), manifest.get("left_out")
    # The lists say what the extract lacked and what stood in for it, the one territory's cost index included.
    assert manifest["extract_shape"]["defaulted"] == shape["defaulted"]
    assert manifest["extract_shape"]["absent_tables"] == shape["absent_tables"]
    defaulted_territory = "accounts.territory" in shape["defaulted"]
    assert (COST_INDEX_SETTING in manifest["extract_shape"].get("assumed", {})) == defaulted_territory
    assert (COST_INDEX_SETTING in trained) == defaulted_territory
