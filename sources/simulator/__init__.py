"""The synthetic hauler: raw tables in the contract plus the hidden truth behind them.

Usage::

    hauler = simulate_hauler(SimulationConfig(accounts=5_000, months=24, seed=7))
    summary = write_hauler(hauler, Path("data/demo"))   # raw/, truth/, summary.json
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sources.reader import EXTRACT_FILE
from sources.simulator.book import draw_accounts, draw_lines
from sources.simulator.calendar import Calendar
from sources.simulator.call_tables import call_raw, call_truth
from sources.simulator.config import DEFAULT_END, SimulationConfig
from sources.simulator.dynamics import Hauler
from sources.simulator.tables import raw_tables
from sources.simulator.truth import summarize, truth_tables

__all__ = ["DEFAULT_END", "SimulatedHauler", "SimulationConfig", "simulate_hauler", "write_hauler"]


@dataclass(frozen=True)
class SimulatedHauler:
    """A simulated extract: raw tables, the truth behind them, and their summary."""

    config: SimulationConfig
    raw: dict[str, pa.Table]
    truth: dict[str, pa.Table]
    summary: dict[str, Any]


def simulate_hauler(config: SimulationConfig) -> SimulatedHauler:
    """Simulate a hauler. Deterministic: the same configuration gives the same tables.

    Args:
        config: Size, seed, end date and behaviour.

    Returns:
        The raw tables (in the contract), the truth and the summary.
    """
    rng = np.random.default_rng(config.seed)
    calendar = Calendar.ending(config.end, config.months)
    accounts = draw_accounts(config, calendar, rng)
    lines = draw_lines(accounts, config, calendar, rng)
    hauler = Hauler(config, calendar, accounts, lines, rng)
    hauler.run()
    raw, keys = raw_tables(hauler)
    raw.update(call_raw(hauler, keys))
    truth = {**truth_tables(hauler, keys), **call_truth(hauler, keys)}
    return SimulatedHauler(config, raw, truth, summarize(hauler, raw))


def write_hauler(hauler: SimulatedHauler, workspace: Path) -> dict[str, Any]:
    """Write a simulated hauler into a workspace: ``raw/``, ``truth/`` and the summary.

    Files are written without timestamps or other run-dependent metadata, so the
    same seed gives byte-identical files.

    Args:
        hauler: The simulation.
        workspace: The workspace folder.

    Returns:
        The summary, also written to ``truth/summary.json``.
    """
    raw_dir, truth_dir = workspace / "raw", workspace / "truth"
    for folder, tables in ((raw_dir, hauler.raw), (truth_dir, hauler.truth)):
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            pq.write_table(table, folder / f"{name}.parquet", compression="zstd", row_group_size=1_000_000)
    extract = {
        "source": "simulator",
        "start_date": hauler.summary["start_date"],
        "end_date": hauler.summary["end_date"],
    }
    (raw_dir / EXTRACT_FILE).write_text(json.dumps(extract, indent=2) + "\n", encoding="utf-8")
    (truth_dir / "summary.json").write_text(json.dumps(hauler.summary, indent=2) + "\n", encoding="utf-8")
    return hauler.summary
