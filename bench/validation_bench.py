"""How long ``validate_workspace`` takes on a few million rows, beside plain pandera.

Builds a synthetic extract (vectorised, no simulator) with a small share of bad
rows, writes it as Parquet, then times the full validation (read, coerce,
contract checks, duplicates, foreign keys, dates, write clean and rejects)
next to the reference: pandera's own lazy ``validate`` on the same, already
typed frames, which only checks columns.

Usage::

    .venv/bin/python bench/validation_bench.py --accounts 200000 [--csv] --out bench/out/validation
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from rich.console import Console
from rich.table import Table

from pipelines.settings import load_settings
from sources import vocabulary as v
from sources.contract import TABLES
from sources.folders import WorkspaceFolders
from sources.validation import validate_workspace

END = date(2024, 12, 31)
console = Console()


def _ids(prefix: str, count: int) -> pd.Series:
    return pd.Series(np.char.add(prefix, np.arange(count).astype(str)), dtype="str")


def _days(rng: np.random.Generator, count: int, start: str = "2022-01-01", span: int = 1_000) -> pd.Series:
    offsets = pd.to_timedelta(rng.integers(0, span, count), unit="D")
    return pd.Series(pd.Timestamp(start) + offsets).astype("datetime64[ns]")


def _pick(rng: np.random.Generator, values: tuple[str, ...], count: int) -> pd.Series:
    return pd.Series(np.asarray(values)[rng.integers(0, len(values), count)], dtype="str")


def synthetic_extract(accounts: int, seed: int = 1) -> dict[str, pd.DataFrame]:
    """A contract-shaped extract: per account 1.5 lines, 12 invoices, 3 events, 1.5 rate changes."""
    rng = np.random.default_rng(seed)
    n_lines, n_invoices, n_events = accounts * 3 // 2, accounts * 12, accounts * 3
    account_ids = _ids("A", accounts)
    line_ids = _ids("L", n_lines)
    line_account = account_ids.take(rng.integers(0, accounts, n_lines)).reset_index(drop=True)
    event_line = rng.integers(0, n_lines, n_events)
    requests = accounts // 10
    tables = {
        "accounts": pd.DataFrame(
            {
                "account_id": account_ids,
                "account_name": _ids("Customer ", accounts),
                "city": _pick(rng, ("Fresno", "Reno", "Elm"), accounts),
                "state": _pick(rng, ("CA", "NV"), accounts),
                "territory": _pick(rng, ("T1", "T2", "T3"), accounts),
                "segment": _pick(rng, v.SEGMENTS, accounts),
                "start_date": _days(rng, accounts, "2015-01-01", 2_500),
                "close_date": pd.Series(pd.NaT, index=range(accounts), dtype="datetime64[ns]"),
            }
        ),
        "service_lines": pd.DataFrame(
            {
                "line_id": line_ids,
                "account_id": line_account,
                "stream": _pick(rng, v.STREAMS, n_lines),
                "container_type": _pick(rng, v.CONTAINER_TYPES, n_lines),
                "container_yards": rng.choice([2.0, 4.0], n_lines),
                "pickups_per_week": rng.choice([1.0, 2.0], n_lines),
                "monthly_rate": rng.uniform(30, 900, n_lines),
                "start_date": _days(rng, n_lines, "2022-01-01", 300),
                "end_date": pd.Series(pd.NaT, index=range(n_lines), dtype="datetime64[ns]"),
            }
        ),
        "invoices": pd.DataFrame(
            {
                "invoice_id": _ids("I", n_invoices),
                "account_id": account_ids.take(np.repeat(np.arange(accounts), 12)).reset_index(drop=True),
                "invoice_date": _days(rng, n_invoices, "2024-01-01", 300),
                "amount": rng.uniform(30, 900, n_invoices),
            }
        ),
        "service_events": pd.DataFrame(
            {
                "event_id": _ids("E", n_events),
                "account_id": line_account.take(event_line).reset_index(drop=True),
                "line_id": line_ids.take(event_line).reset_index(drop=True),
                "event_date": _days(rng, n_events, "2023-01-01", 700),
                "event_type": _pick(rng, v.SERVICE_EVENT_TYPES, n_events),
                "charge": rng.uniform(0, 100, n_events),
            }
        ),
        "cancellation_requests": pd.DataFrame(
            {
                "request_id": _ids("Q", requests),
                "account_id": account_ids.take(rng.integers(0, accounts, requests)).reset_index(drop=True),
                "request_date": _days(rng, requests, "2024-01-01", 300),
                "reason": _pick(rng, v.CANCELLATION_REASONS, requests),
                "channel": _pick(rng, v.REQUEST_CHANNELS, requests),
                "resolution": _pick(rng, v.REQUEST_RESOLUTIONS, requests),
                "resolved_date": _days(rng, requests, "2024-11-01", 30),
            }
        ),
    }
    tables["invoices"]["due_date"] = tables["invoices"]["invoice_date"] + pd.Timedelta(days=30)
    _spoil(tables, rng)
    return tables


def _spoil(tables: dict[str, pd.DataFrame], rng: np.random.Generator) -> None:
    """About one row in a thousand goes bad: negative amounts, unknown codes, orphans, future dates."""
    invoices, lines, events = tables["invoices"], tables["service_lines"], tables["service_events"]
    invoices.loc[rng.choice(len(invoices), len(invoices) // 2_000, replace=False), "amount"] = -5.0
    invoices.loc[rng.choice(len(invoices), len(invoices) // 2_000, replace=False), "invoice_date"] = pd.Timestamp(
        "2025-03-01"
    )
    lines.loc[rng.choice(len(lines), len(lines) // 1_000, replace=False), "stream"] = "glass"
    events.loc[rng.choice(len(events), len(events) // 1_000, replace=False), "account_id"] = "A-missing"


def _timed(task: object) -> tuple[object, float]:
    started = time.perf_counter()
    result = task()  # type: ignore[operator]
    return result, time.perf_counter() - started


def _pandera_only(tables: dict[str, pd.DataFrame]) -> None:
    for name, frame in tables.items():
        try:
            TABLES[name].validate(frame, lazy=True)
        except pa.errors.SchemaErrors:
            pass


def main() -> None:
    """Build the extract, time both engines, print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=Path("bench/out/validation"))
    parser.add_argument("--csv", action="store_true", help="Write the extract as CSV (all text) instead of Parquet.")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    (args.out / "raw").mkdir(parents=True)
    tables, build_s = _timed(lambda: synthetic_extract(args.accounts))
    for name, frame in tables.items():  # type: ignore[union-attr]
        if args.csv:
            frame.to_csv(args.out / "raw" / f"{name}.csv", index=False, date_format="%Y-%m-%d")
        else:
            frame.to_parquet(args.out / "raw" / f"{name}.parquet", index=False)
    (args.out / "raw" / "extract.json").write_text(json.dumps({"end_date": END.isoformat()}), encoding="utf-8")
    rows = sum(len(frame) for frame in tables.values())  # type: ignore[union-attr]
    settings = load_settings(args.out)
    folders = WorkspaceFolders(raw=settings.raw_dir, clean=settings.clean_dir, rejects=settings.rejects_dir)
    report, ours_s = _timed(lambda: validate_workspace(folders))
    _, pandera_s = _timed(lambda: _pandera_only(tables))  # type: ignore[arg-type]
    source = "CSV" if args.csv else "Parquet"
    figures = Table(title=f"Validating {rows:,} rows ({args.accounts:,} accounts, {source})")
    for column in ("engine", "seconds", "rows/s", "what it does"):
        figures.add_column(column)
    figures.add_row(
        "validate_workspace",
        f"{ours_s:.1f}",
        f"{rows / ours_s:,.0f}",
        "read files, coerce, pandera checks, duplicates, FKs, dates, write clean + rejects",
    )
    figures.add_row(
        "pandera validate (reference)",
        f"{pandera_s:.1f}",
        f"{rows / pandera_s:,.0f}",
        "column checks on frames already in memory and typed",
    )
    console.print(figures)
    rejected = sum(t.rows_rejected for t in report.tables)  # type: ignore[union-attr]
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    console.print(f"built in {build_s:.1f} s; {rejected:,} rows quarantined; peak memory {peak_gb:.1f} GB")


if __name__ == "__main__":
    main()
