"""Cutting a written hauler down to a poorer extract, as real sources send them.

``minimal_extract`` keeps what a finance system alone can give: the accounts (id, start and close) and the
invoices. The minimal-extract test and ``bench/inactivity_churn.py`` train on it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

MINIMAL_TABLES = ("accounts", "invoices")
MINIMAL_ACCOUNT_COLUMNS = ["account_id", "start_date", "close_date"]


def minimal_extract(folder: Path) -> None:
    """Keep only the accounts (id, start and close) and the invoices of ``folder``'s raw Parquet tables."""
    raw = folder / "raw"
    for path in raw.glob("*.parquet"):
        if path.stem not in MINIMAL_TABLES:
            path.unlink()
    accounts = pq.read_table(raw / "accounts.parquet", columns=MINIMAL_ACCOUNT_COLUMNS)
    pq.write_table(accounts, raw / "accounts.parquet")
